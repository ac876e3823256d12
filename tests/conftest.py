"""Fixtures shared by the test files."""
import pytest
import torch


@pytest.fixture(scope='module')
def single_thread():
    """One intra-op thread for a module whose tensors are tiny: on the shared 2-core CI
    machine extra threads only add contention (measured ~10x slower). Use it with
    ``pytestmark = pytest.mark.usefixtures('single_thread')``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
