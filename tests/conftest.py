"""Fixtures and options shared by the test files.

Test data: one folder (the real KITTI frame ``kitti_real/`` and mmdet3d's mini KITTI set
``mmdet3d_kitti_mini/``), chosen here and nowhere else, in this order:

1. ``pytest --pd-data DIR``;
2. the environment variable ``PD_TEST_DATA``;
3. ``tests/data`` (shipped with the repository; provenance and licence in its README).

The choice is exported as ``PD_TEST_DATA`` for the whole session, so
:func:`mmdet3d_pointdistiller.testing.data_root` and every subprocess a test starts see it.
Tests whose files are missing there fail and name the path they looked in.
"""
import os
from pathlib import Path

import pytest
import torch

#: the variable read by ``mmdet3d_pointdistiller.testing.data`` (its ``DATA_ENV``)
DATA_ENV = 'PD_TEST_DATA'
DEFAULT_DATA = Path(__file__).resolve().parent / 'data'


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption('--pd-data', default=None, metavar='DIR',
                     help=f'test data folder (kitti_real/, mmdet3d_kitti_mini/); default '
                          f'${DATA_ENV}, else tests/data')


def pytest_configure(config: pytest.Config) -> None:
    """Resolve the test data folder once and export it as ``$PD_TEST_DATA``."""
    option = config.getoption('--pd-data')
    data = option or os.environ.get(DATA_ENV) or str(DEFAULT_DATA)
    os.environ[DATA_ENV] = os.path.abspath(os.path.expanduser(data))


@pytest.fixture(scope='module')
def single_thread():
    """One intra-op thread for a module whose tensors are tiny: on the shared 2-core CI
    machine extra threads only add contention (measured ~10x slower). Use it with
    ``pytestmark = pytest.mark.usefixtures('single_thread')``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='session')
def sim_kitti_small(tmp_path_factory):
    """4 train + 12 val simulated frames (seed 1) converted once per session by the unchanged
    ``mim run mmdet3d create_data kitti --with-plane`` (~60 s)."""
    from mmdet3d_pointdistiller.testing import convert_sim_kitti
    return convert_sim_kitti(tmp_path_factory.mktemp('sim_kitti_small'), 4, 12, seed=1)
