"""Narrow compatibility shims, kept together here and activated by importing the package.

Each shim documents what it replaces, why, and for which versions, and is active only where
it is needed:

* :mod:`.checkpoint` — torch >= 2.6: mmengine checkpoints load with ``weights_only=True``
  and an exact allow-list (no global switch-off of the safety).
* :mod:`.kitti_iou` — no CUDA: ``KittiMetric``'s rotated IoU runs on mmcv's CPU kernel
  instead of numba.cuda.
* :mod:`.numpy_long` — numpy 1.24-1.26: ``ObjectSample``'s database sampler gets the
  ``np.long`` it still uses (mmdet3d #2821), scoped to that one module.
* :mod:`.point_ops_cpu` — no CUDA: mmcv's CUDA-only point ops (FPS, gather/group, ball
  query, three_nn/interpolate, points_in_boxes, RoIPointPool3d) dispatch CPU tensors to the
  kernels of :mod:`mmdet3d_pointdistiller.ops` (one module per op), plus an exact pruned path for
  mmcv's O(N^2) CPU ``nms_rotated``, so PointRCNN trains and predicts.
* :mod:`.spconv_cpu` — no CUDA, spconv installed: spconv's CPU backward no longer asks
  for a CUDA stream, so SECOND trains.
* :mod:`.dist_cpu` — no CUDA: the runner's own ``--launcher pytorch`` start works (no
  ``torch.cuda.set_device``, ``nccl`` -> ``gloo``, no ``device_ids`` for a CPU module in
  ``MMDistributedDataParallel``).

Switch: the environment variable ``PD_COMPAT`` (read by :func:`activate`, i.e. at import of
the package). Unset or ``1`` (the default): every shim this machine needs is activated and
one log line names each active shim and what it rebinds. ``0``: none is activated, so
importing the package leaves mmcv's, mmdet3d's, mmengine's and spconv's module attributes
untouched (to rule the shims out when debugging another model; CPU-only features such as
PointRCNN training or ``KittiMetric`` without CUDA then fail as they do upstream).

:func:`activate` is idempotent; :data:`ACTIVE` records which shims are on in this process.
"""
from __future__ import annotations

import os
import sys
from typing import Callable, Dict, List, Tuple

from mmengine.logging import MMLogger, print_log

from .checkpoint import (UnsafeCheckpointError, register_safe_checkpoint_loader,
                         safe_torch_load)
from .dist_cpu import register_dist_cpu
from .kitti_iou import register_kitti_cpu_iou, rotate_iou_cpu_eval
from .numpy_long import register_dbsampler_numpy_long
from .point_ops_cpu import describe_rebinds, register_point_ops_cpu
from .spconv_cpu import register_spconv_cpu

__all__ = ['activate', 'ACTIVE', 'SHIMS', 'ENV_SWITCH', 'compat_enabled',
           'UnsafeCheckpointError', 'safe_torch_load', 'rotate_iou_cpu_eval']

ENV_SWITCH = 'PD_COMPAT'

# name -> (registration function returning whether the shim is active, what it rebinds)
SHIMS: Dict[str, Tuple[Callable[[], bool], str]] = {
    'safe_checkpoint_loader': (
        register_safe_checkpoint_loader,
        "mmengine CheckpointLoader._schemes[''] (local files) -> safe_torch_load "
        '(weights_only=True + allow-list)'),
    'kitti_cpu_iou': (
        register_kitti_cpu_iou,
        'mmdet3d.evaluation.functional.kitti_utils.rotate_iou.rotate_iou_gpu_eval -> '
        'rotate_iou_cpu_eval'),
    'dbsampler_numpy_long': (
        register_dbsampler_numpy_long,
        'mmdet3d.datasets.transforms.dbsampler.np -> numpy with np.long'),
    'point_ops_cpu': (
        register_point_ops_cpu,
        describe_rebinds()),
    'spconv_cpu': (
        register_spconv_cpu,
        'spconv.pytorch.ops.get_current_stream -> CPU-safe stream query'),
    'dist_cpu': (
        register_dist_cpu,
        'mmengine.dist.utils._init_dist_pytorch and MMDistributedDataParallel.__init__ -> '
        'gloo / CPU variants'),
}

ACTIVE: Dict[str, bool] = {}
_logged: List[Tuple[str, ...]] = []


def compat_enabled() -> bool:
    """Whether ``PD_COMPAT`` allows the shims (unset, ``1``, ``on``, ``true``, ``yes``).

    Raises:
        ValueError: for any other value, naming the variable and the accepted values.
    """
    value = os.environ.get(ENV_SWITCH, '1').strip().lower()
    if value in ('1', 'on', 'true', 'yes', ''):
        return True
    if value in ('0', 'off', 'false', 'no'):
        return False
    raise ValueError(f'{ENV_SWITCH}={os.environ[ENV_SWITCH]!r} is not understood: use '
                     f'{ENV_SWITCH}=0 to turn every compatibility shim of '
                     f'mmdet3d_pointdistiller off, or 1 (the default) to activate those this '
                     f'machine needs')


def _log(message: str) -> None:
    """To the current MMLogger if one exists (a runner's log file), else to stderr (at
    ``custom_imports`` time no runner logger exists yet); never to stdout, which tools such
    as ``tools/reproduce_table.py`` use for their output."""
    if MMLogger._instance_dict:
        print_log(message, logger='current')
    else:
        sys.stderr.write(message + '\n')


def activate() -> Dict[str, bool]:
    """Turn on every shim this machine needs (unless ``PD_COMPAT=0``); return which are on.

    Logs one line naming each active shim and what it rebinds, the first time and whenever
    the set changes.
    """
    enabled = compat_enabled()
    for name, (register, _) in SHIMS.items():
        ACTIVE[name] = register() if enabled else False
    active = tuple(name for name, on in ACTIVE.items() if on)
    key = (str(enabled),) + active
    if not _logged or _logged[-1] != key:
        _logged.append(key)
        if not enabled:
            _log(f'mmdet3d_pointdistiller: {ENV_SWITCH}=0, no compatibility shim activated '
                 f'(mmcv, mmdet3d, mmengine and spconv attributes are left as they are)')
        elif active:
            _log(f'mmdet3d_pointdistiller: compatibility shims active ({ENV_SWITCH}=0 turns '
                 f'them off): ' + '; '.join(f'[{n}] {SHIMS[n][1]}' for n in active))
        else:
            _log('mmdet3d_pointdistiller: no compatibility shim needed on this machine')
    return dict(ACTIVE)
