"""Where the repository's ``configs/`` (and ``checkpoints/``, ``benchmarks/``) live.

The quickstart and the benchmark harnesses read the shipped configs by their
repository-relative names (``configs/sim/...``). From a source checkout the root is the folder
that holds the package; from an installed wheel there is no such folder, so the root must be
given: as an argument, or through the environment variable :data:`REPO_ROOT_ENV`.
"""
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Union

#: environment variable naming the folder that holds ``configs/``
REPO_ROOT_ENV = 'PD_REPO_ROOT'
#: the folder that must exist under the root
CONFIGS_DIR = 'configs'

__all__ = ['CONFIGS_DIR', 'REPO_ROOT_ENV', 'SIM_ROOT_ENV', 'checkout_root', 'repo_root',
           'sim_data_root']


def checkout_root() -> Path:
    """The folder that holds the ``mmdet3d_pointdistiller`` package directory (the checkout,
    when the package is used from source; ``site-packages`` for an installed wheel)."""
    return Path(__file__).resolve().parents[2]


def repo_root(root: Optional[Union[str, Path]] = None) -> Path:
    """The repository root: ``root`` if given, else ``$PD_REPO_ROOT``, else the checkout the
    package sits in.

    Args:
        root: an explicit root (a folder with ``configs/``), or None.

    Returns:
        Path: the resolved, absolute root.

    Raises:
        FileNotFoundError: the chosen root has no ``configs/`` folder; the message names the
            folder looked for and how to point the package at a checkout.
    """
    if root is not None:
        source, path = 'the given root', Path(root)
    elif os.environ.get(REPO_ROOT_ENV):
        source, path = f'${REPO_ROOT_ENV}', Path(os.environ[REPO_ROOT_ENV])
    else:
        source, path = 'the checkout that holds the package', checkout_root()
    path = path.expanduser().resolve()
    if not (path / CONFIGS_DIR).is_dir():
        raise FileNotFoundError(
            f'{path / CONFIGS_DIR} not found ({source}): the shipped configs are read from a '
            f'repository checkout; set {REPO_ROOT_ENV}=/path/to/the/checkout (the folder with '
            f'{CONFIGS_DIR}/) or pass the root explicitly')
    return path


#: environment variable the simulated-dataset configs read their data root from, when the
#: config file is parsed (``data_root = '{{$PD_SIM_KITTI:data/sim_kitti/}}'``)
SIM_ROOT_ENV = 'PD_SIM_KITTI'


@contextmanager
def sim_data_root(root: Optional[Union[str, Path]]) -> Iterator[None]:
    """Within the block, sim configs parsed with ``Config.fromfile`` use ``root`` as their data
    root (``None``: their default ``data/sim_kitti/``); ``$PD_SIM_KITTI`` is restored after.

    The configs read the variable only while they are parsed, so code that builds datasets
    in-process wraps its ``Config.fromfile`` / ``load_detector`` calls in this instead of
    setting the variable for the rest of the process (subprocesses get it in their ``env``).
    """
    old = os.environ.pop(SIM_ROOT_ENV, None)
    if root is not None:
        os.environ[SIM_ROOT_ENV] = str(Path(root).resolve()) + '/'
    try:
        yield
    finally:
        os.environ.pop(SIM_ROOT_ENV, None)
        if old is not None:
            os.environ[SIM_ROOT_ENV] = old
