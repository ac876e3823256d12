"""The runner's own distributed start (``--launcher pytorch``) on machines without CUDA.

What it replaces
    Two names, each only while ``torch.cuda.is_available()`` is False:

    * ``mmengine.dist.utils._init_dist_pytorch`` — the function ``init_dist('pytorch')``
      looks up in its own module when ``Runner.setup_env`` starts the process group. The
      replacement does what the original's plain-torch branch does minus
      ``torch.cuda.set_device(local_rank)``, and starts ``gloo`` where the config asks for
      ``nccl`` (mmdet3d's ``default_runtime.py`` sets ``env_cfg.dist_cfg.backend='nccl'``;
      NCCL is CUDA-only). Any other backend (``gloo``, ``mpi``) is passed through unchanged.
    * ``MMDistributedDataParallel.__init__`` — when every parameter and buffer of the wrapped
      module is on the CPU, ``device_ids``/``output_device`` are dropped before
      ``DistributedDataParallel.__init__`` runs. Everything else (``broadcast_buffers``,
      ``find_unused_parameters``, the teacher left out through
      ``_ddp_params_and_buffers_to_ignore``) is untouched.

Why
    mmengine 0.10.7's ``_init_dist_pytorch`` calls ``torch.cuda.set_device`` unconditionally
    (``RuntimeError`` without a GPU), and ``Runner.wrap_model`` always passes
    ``device_ids=[int(os.environ['LOCAL_RANK'])]`` to DDP (``model_wrapper_cfg`` or not),
    which DDP rejects for a CPU module ("device_ids ... only work with single-device/
    multiple-device GPU modules"). So ``mim train ... --launcher pytorch`` and
    ``torchrun ... tools/train.py --launcher pytorch`` could not start on a CPU machine.
    With the shim both start ``gloo`` processes and train with the runner's own DDP path.

    Each replacement logs once per process what it rebinds (``compat.dist_cpu: ...``).

Versions
    Written for mmengine 0.10.7 (``_init_dist_pytorch(backend, init_backend='torch',
    **kwargs)``) and torch 2.x. Active only without CUDA; with CUDA the originals stay.
"""
from __future__ import annotations

import functools
import os
from typing import Any, Callable, Dict, Optional

import mmengine.dist.utils as dist_utils
import torch
import torch.distributed as torch_dist
from mmengine.logging import print_log
from mmengine.model.wrappers import MMDistributedDataParallel

__all__ = ['dist_cpu_needed', 'register_dist_cpu', 'unregister_dist_cpu']

_originals: Dict[str, Callable[..., Any]] = {}
_logged: set = set()


def dist_cpu_needed() -> bool:
    """Whether CUDA is unavailable to torch (the only case the shim is for)."""
    return not torch.cuda.is_available()


def _log_once(key: str, msg: str) -> None:
    if key in _logged:
        return
    _logged.add(key)
    print_log(f'compat.dist_cpu: {msg}', logger='current')


def _make_init_dist_pytorch(original: Callable[..., None]) -> Callable[..., None]:

    @functools.wraps(original)
    def _init_dist_pytorch(backend: str, init_backend: str = 'torch', **kwargs) -> None:
        """mmengine's ``_init_dist_pytorch`` without ``torch.cuda.set_device`` and with
        ``nccl`` -> ``gloo``, when CUDA is unavailable (see
        :mod:`mmdet3d_pointdistiller.compat.dist_cpu`)."""
        if torch.cuda.is_available() or init_backend != 'torch':
            return original(backend, init_backend=init_backend, **kwargs)
        chosen = 'gloo' if backend == 'nccl' else backend
        _log_once('init', 'no CUDA: mmengine.dist.utils._init_dist_pytorch rebound (no '
                  f'torch.cuda.set_device; backend {backend!r} -> {chosen!r}), rank '
                  f"{os.environ.get('RANK')} of {os.environ.get('WORLD_SIZE')}")
        torch_dist.init_process_group(backend=chosen, **kwargs)

    _init_dist_pytorch._pd_dist_cpu = True  # type: ignore[attr-defined]
    return _init_dist_pytorch


def _on_cpu(module: torch.nn.Module) -> bool:
    tensors = list(module.parameters()) + list(module.buffers())
    return bool(tensors) and all(t.device.type == 'cpu' for t in tensors)


def _make_ddp_init(original: Callable[..., None]) -> Callable[..., None]:

    @functools.wraps(original)
    def __init__(self, module: torch.nn.Module, detect_anomalous_params: bool = False,
                 **kwargs) -> None:
        """``MMDistributedDataParallel.__init__`` without ``device_ids``/``output_device``
        for a CPU module when CUDA is unavailable (see
        :mod:`mmdet3d_pointdistiller.compat.dist_cpu`)."""
        if not torch.cuda.is_available() and _on_cpu(module):
            dropped: Optional[Any] = kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
            if dropped is not None:
                _log_once('ddp', 'no CUDA: MMDistributedDataParallel.__init__ rebound, '
                          f'device_ids={dropped} dropped for the CPU module')
        original(self, module, detect_anomalous_params=detect_anomalous_params, **kwargs)

    __init__._pd_dist_cpu = True  # type: ignore[attr-defined]
    return __init__


def register_dist_cpu() -> bool:
    """Install both replacements where CUDA is unavailable (idempotent).

    Returns:
        bool: whether the shim is active. With CUDA available nothing is changed and any
        earlier installation in this process is undone.
    """
    if not dist_cpu_needed():
        unregister_dist_cpu()
        return False
    if not getattr(dist_utils._init_dist_pytorch, '_pd_dist_cpu', False):
        _originals['init'] = dist_utils._init_dist_pytorch
        dist_utils._init_dist_pytorch = _make_init_dist_pytorch(dist_utils._init_dist_pytorch)
    if not getattr(MMDistributedDataParallel.__init__, '_pd_dist_cpu', False):
        _originals['ddp'] = MMDistributedDataParallel.__init__
        MMDistributedDataParallel.__init__ = _make_ddp_init(MMDistributedDataParallel.__init__)
    return True


def unregister_dist_cpu() -> bool:
    """Put mmengine's originals back; returns whether anything was restored."""
    if not _originals:
        return False
    if 'init' in _originals:
        dist_utils._init_dist_pytorch = _originals.pop('init')
    if 'ddp' in _originals:
        MMDistributedDataParallel.__init__ = _originals.pop('ddp')
    return True
