"""Where the test data live: one folder, named by the environment variable ``PD_TEST_DATA``.

The folder holds the real KITTI frame (``kitti_real/000008.bin`` + its mmdet3d info
``000008.pkl`` and calibration ``000008.txt``) and mmdet3d's mini KITTI set
(``mmdet3d_kitti_mini/``). ``tests/conftest.py`` resolves it once per session, from pytest's
``--pd-data`` option, else ``$PD_TEST_DATA``, else its documented default, and exports the
result as ``PD_TEST_DATA`` so that the helpers here and every subprocess a test starts (a
``torchrun`` worker, a tool) see the same folder.
"""
import os
from pathlib import Path

#: environment variable naming the test data folder (set by ``tests/conftest.py``)
DATA_ENV = 'PD_TEST_DATA'
#: the real KITTI frame every real-data test runs on
KITTI_FRAME = '000008'

__all__ = ['DATA_ENV', 'KITTI_FRAME', 'data_root', 'kitti_mini_dir', 'kitti_real_dir',
           'need_kitti_frame']


def data_root() -> Path:
    """The test data folder named by ``$PD_TEST_DATA``.

    Returns:
        Path: the folder (it may not exist: tests that need its files fail then, naming it).

    Raises:
        LookupError: ``PD_TEST_DATA`` is not set, i.e. the caller runs outside pytest (whose
            ``tests/conftest.py`` sets it) and was not given the folder.
    """
    value = os.environ.get(DATA_ENV)
    if not value:
        raise LookupError(f'{DATA_ENV} is not set: run under pytest (tests/conftest.py sets it '
                          f'from --pd-data or its default) or set {DATA_ENV}=/path/to/data')
    return Path(value)


def kitti_real_dir() -> Path:
    """Folder of the real KITTI frame: ``<data>/kitti_real``."""
    return data_root() / 'kitti_real'


def kitti_mini_dir() -> Path:
    """Folder of mmdet3d's mini KITTI set: ``<data>/mmdet3d_kitti_mini``."""
    return data_root() / 'mmdet3d_kitti_mini'


def need_kitti_frame() -> Path:
    """Fail the calling test, naming the path, unless the real frame's point cloud and info
    file exist (they ship in ``tests/data``: a missing file is a broken checkout or a wrong
    ``--pd-data``, not a reason to skip).

    Returns:
        Path: :func:`kitti_real_dir`.
    """
    kitti_real = kitti_real_dir()
    if not (kitti_real / f'{KITTI_FRAME}.bin').is_file() or \
            not (kitti_real / f'{KITTI_FRAME}.pkl').is_file():
        import pytest  # lazy: optional dependency (pytest, the tests extra; bench imports testing)
        pytest.fail(f'real KITTI frame not found under {kitti_real}')
    return kitti_real
