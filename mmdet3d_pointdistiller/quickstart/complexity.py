"""Parameters, FLOPs and CPU latency of a detector on real frames.

FLOPs are counted the way mmcv 1.x's ``get_model_complexity_info`` counts them (the numbers
the PointDistiller paper and mmdet3d's model zoo quote), with forward hooks on one forward
pass of the model's tensor-mode forward (``_forward``, or for multi-modality detectors such as
CenterPoint the point branch and head, :func:`~..models.tensor_forward.tensor_forward`:
everything between voxelization and box decoding/NMS):

* ``Conv1d/2d/3d``: multiply-adds ``out_elements * C_in / groups * prod(kernel)`` (+ one per
  output element for a bias);
* ``ConvTranspose*d``: ``in_elements * C_out / groups * prod(kernel)`` (+ bias per output);
* ``Linear``: ``in_elements * out_features`` (+ bias per output);
* ``BatchNorm*``: ``2 * elements`` (affine) or ``elements``; ``ReLU``/pooling: ``elements``.

One multiply-add counts as one FLOP (mmcv's convention). Voxelization, the pillar scatter and
the post-processing are not counted. Because the input is sparse, FLOPs of the voxel encoder
depend on the frame (number of pillars); the dense part does not.
"""
from __future__ import annotations

import copy
import statistics
import time
from typing import Callable, Dict, List, Sequence

import numpy as np
import torch
from torch import nn

from ..models.tensor_forward import tensor_forward

__all__ = ['count_params', 'count_flops', 'measure_latency']


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not) of ``model``."""
    return int(sum(p.numel() for p in model.parameters()))


def _conv_hook(m, inp, out):
    out_el = out.numel()
    k = int(np.prod(m.kernel_size))
    flops = out_el * (m.in_channels // m.groups) * k
    if m.bias is not None:
        flops += out_el
    return flops


def _deconv_hook(m, inp, out):
    k = int(np.prod(m.kernel_size))
    flops = inp[0].numel() * (m.out_channels // m.groups) * k
    if m.bias is not None:
        flops += out.numel()
    return flops


def _linear_hook(m, inp, out):
    flops = inp[0].numel() * m.out_features
    if m.bias is not None:
        flops += out.numel()
    return flops


def _bn_hook(m, inp, out):
    return inp[0].numel() * (2 if m.affine else 1)


def _elementwise_hook(m, inp, out):
    return inp[0].numel()


_HOOKS: Sequence = (
    ((nn.Conv1d, nn.Conv2d, nn.Conv3d), _conv_hook),
    ((nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d), _deconv_hook),
    ((nn.Linear, ), _linear_hook),
    ((nn.modules.batchnorm._BatchNorm, ), _bn_hook),
    ((nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d,
      nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d), _elementwise_hook),
)


def count_flops(model: nn.Module, batches: Sequence[dict]) -> Dict[str, float]:
    """FLOPs per frame of the tensor-mode forward (mmcv 1.x convention, see the module doc).

    Args:
        model: an mmdet3d detector (``data_preprocessor`` + ``_forward``).
        batches: collated batches of ONE frame each (e.g. from
            :func:`mmdet3d_pointdistiller.vis.load_frame` or a test dataloader).

    Returns:
        dict: ``gflops`` (mean over the frames), ``gflops_min``, ``gflops_max``,
        ``per_module`` (GFLOPs per top-level child, mean) and ``frames``.
    """
    totals: List[float] = []
    per_top: Dict[str, List[float]] = {}
    counter = {'n': 0, 'top': {}}
    handles = []

    def wrap(fn: Callable, top: str):
        def hook(m, inp, out):
            if not isinstance(out, torch.Tensor):
                return
            f = fn(m, inp, out)
            counter['n'] += f
            counter['top'][top] = counter['top'].get(top, 0) + f
        return hook

    for name, module in model.named_modules():
        for types, fn in _HOOKS:
            if isinstance(module, types):
                handles.append(module.register_forward_hook(wrap(fn, name.split('.')[0])))
                break
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for data in batches:
                if len(data['data_samples']) != 1:
                    raise ValueError('count_flops expects batches of one frame, got '
                                     f"{len(data['data_samples'])}")
                batch = model.data_preprocessor(copy.deepcopy(data), False)
                counter['n'], counter['top'] = 0, {}
                tensor_forward(model, batch['inputs'], batch['data_samples'])
                totals.append(counter['n'] / 1e9)
                for k, v in counter['top'].items():
                    per_top.setdefault(k, []).append(v / 1e9)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    if not totals:
        raise ValueError('count_flops needs at least one batch')
    return dict(gflops=float(np.mean(totals)), gflops_min=float(min(totals)),
                gflops_max=float(max(totals)), frames=len(totals),
                per_module={k: float(np.mean(v)) for k, v in per_top.items()})


def measure_latency(model: nn.Module, batches: Sequence[dict], warmup: int = 2,
                    repeats: int = 1) -> Dict[str, float]:
    """Wall-clock time of ``model.test_step`` per frame (voxelization, network, NMS).

    Args:
        batches: collated one-frame batches; each is run ``repeats`` times after ``warmup``
            untimed runs of the first one.

    Returns:
        dict: ``median_ms``, ``mean_ms``, ``min_ms``, ``max_ms``, ``frames`` (timed runs) and
        ``threads`` (``torch.get_num_threads()``).
    """
    if not batches:
        raise ValueError('measure_latency needs at least one batch')
    was_training = model.training
    model.eval()
    times = []
    try:
        with torch.no_grad():
            for _ in range(warmup):
                model.test_step(copy.deepcopy(batches[0]))
            for data in batches:
                for _ in range(repeats):
                    data_copy = copy.deepcopy(data)
                    t0 = time.perf_counter()
                    model.test_step(data_copy)
                    times.append((time.perf_counter() - t0) * 1000.0)
    finally:
        model.train(was_training)
    return dict(median_ms=float(statistics.median(times)), mean_ms=float(np.mean(times)),
                min_ms=float(min(times)), max_ms=float(max(times)), frames=len(times),
                threads=torch.get_num_threads())
