"""Peak-memory measurement of a code region, and the forkserver runner that gives every
measurement a fresh process.

Peak memory (CPU): every case runs in a fresh process forked from a ``forkserver`` that has
only imported the libraries. After the inputs and modules are built, the process resets its
kernel peak-RSS counter (``echo 5 > /proc/self/clear_refs``) and records ``VmRSS``; after the
warm-up and timed runs, ``VmHWM - baseline`` is the peak *extra* resident memory of the loss
(forward, backward and the gradients it produces). Where ``clear_refs`` is not writable the
fallback is ``ru_maxrss`` minus the baseline RSS (reported as ``memory_method``). On CUDA:
``torch.cuda.max_memory_allocated`` minus the memory allocated before the first run.
"""
import multiprocessing
import resource
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Dict, Optional, Sequence

import torch

# imported once by the forkserver (every KD-loss worker is forked from it); MODELS.build
# imports mmdet3d.models (the registry's location) on first use.
PRELOAD = ['torch', 'numpy', 'mmengine', 'mmdet3d.registry', 'mmdet3d_pointdistiller',
           'mmdet3d.models']

__all__ = ['PRELOAD', 'PeakMemory', 'Runner']


def _rss_kb(field: str) -> int:
    """A ``kB`` field (``VmRSS``, ``VmHWM``) of ``/proc/self/status``."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError(f'{field} not found in /proc/self/status')


class PeakMemory:
    """Peak extra memory of a code region (see the module docstring for the method).

    Usage: ``pm = PeakMemory(device); pm.start(); ...; peak_mb = pm.stop()``.

    Attributes:
        device: ``'cpu'`` or ``'cuda[:i]'``.
        method: how the peak is read, set by :meth:`start`: ``'linux_vmhwm_reset'``,
            ``'ru_maxrss_minus_rss'`` or ``'cuda_max_memory_allocated'``.
        base: bytes in use at :meth:`start`.
    """

    def __init__(self, device: str):
        self.device = device
        self.method: Optional[str] = None
        self.base = 0

    def start(self) -> None:
        """Arm the counter: reset the peak and record the memory in use now."""
        if self.device.startswith('cuda'):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            self.method = 'cuda_max_memory_allocated'
            return
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')  # reset VmHWM to the current RSS
            self.base = _rss_kb('VmRSS') * 1024
            self.method = 'linux_vmhwm_reset'
        except OSError:
            self.base = _rss_kb('VmRSS') * 1024
            self.method = 'ru_maxrss_minus_rss'
            self._maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def stop(self) -> float:
        """Peak extra memory in MiB since :meth:`start`."""
        if self.method == 'cuda_max_memory_allocated':
            torch.cuda.synchronize()
            return (torch.cuda.max_memory_allocated() - self.base) / 2**20
        if self.method == 'linux_vmhwm_reset':
            return max(_rss_kb('VmHWM') * 1024 - self.base, 0) / 2**20
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return max(peak - self.base, 0) / 2**20


class Runner:
    """Runs worker functions, each in a fresh process forked from a forkserver (or, with
    ``isolate=False``, in this process: no memory isolation, for debugging only).

    Args:
        isolate: run each call in a fresh process.
        preload: modules the forkserver imports besides :data:`PRELOAD` (those holding the
            worker functions); workers are pickled by qualified name, so they must be
            importable module-level functions.
    """

    def __init__(self, isolate: bool = True, preload: Sequence[str] = ()):
        self.isolate = isolate
        self._pool = None
        if isolate:
            ctx = multiprocessing.get_context('forkserver')
            ctx.set_forkserver_preload(list(preload) + PRELOAD)
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=ctx,
                                             max_tasks_per_child=1)

    def __call__(self, fn: Callable[[Dict], Dict], payload: Dict) -> Dict:
        """``fn(payload)``, in a fresh process when isolating."""
        if not self.isolate:
            return fn(payload)
        return self._pool.submit(fn, payload).result()

    def close(self) -> None:
        """Shut the worker pool down."""
        if self._pool is not None:
            self._pool.shutdown()

    def __enter__(self) -> 'Runner':
        return self

    def __exit__(self, *exc) -> None:
        self.close()
