"""Dispatch mmcv's CUDA-only point ops to CPU kernels, so PointNet++ detectors run without CUDA.

The kernels live in :mod:`mmdet3d_pointdistiller.ops` (one module per op); this module only
rebinds.

What it replaces
    For CPU tensors only, the CUDA-only kernels of these mmcv 2.1.0 ops:

    ======================================  ==========================================
    mmcv op                                 patched attribute
    ======================================  ==========================================
    ``furthest_point_sample``               ``FurthestPointSampling.forward``
    ``furthest_point_sample_with_dist``     ``FurthestPointSamplingWithDist.forward``
    ``gather_points``                       ``GatherPoints.forward`` / ``.backward``
    ``ball_query`` (batched form)           ``BallQuery.forward``
    ``grouping_operation`` (batched form)   ``GroupingOperation.forward`` / ``.backward``
    ``three_nn``                            ``ThreeNN.forward``
    ``three_interpolate``                   ``ThreeInterpolate.forward`` / ``.backward``
    ``RoIPointPool3d``                      ``RoIPointPool3dFunction.forward``
    ``points_in_boxes_part`` / ``_all``     the function objects (see How)
    ``nms_rotated`` (CPU kernel is O(N^2))  the function object (see How)
    ======================================  ==========================================

    These are all the CUDA-only mmcv ops that mmdet3d 1.4.0's PointRCNN
    (``point_rcnn/point-rcnn_8xb2_kitti-3d-3class.py``: ``PointNet2SAMSG`` backbone,
    ``PointNetFPNeck``, ``PointRPNHead``, ``PointRCNNRoIHead`` with
    ``Single3DRoIPointExtractor`` and ``PointRCNNBboxHead``) reaches in ``loss`` and
    ``predict``; the F-FPS variant is included because it shares the FPS code.
    ``nms_rotated`` has a CPU kernel, but it evaluates the polygon IoU of every kept box
    with every later box: PointRPNHead's 9000-proposal NMS took ~95 s per call on 2 cores,
    so single-label float32 calls get an exact pruned path.

Why
    mmcv 2.1.0 ships CUDA kernels only for these ops; on a CPU tensor they fail at once
    (``furthest_point_sample`` allocates ``torch.cuda.IntTensor``, the others raise
    ``... not implemented on CPU``), so PointRCNN can neither train nor predict on a
    CPU-only machine.

How
    Each autograd ``Function``'s ``forward``/``backward`` staticmethod is replaced by a
    dispatcher that calls mmcv's original for any tensor that is not on the CPU (CUDA keeps
    mmcv's kernels) and a vectorised PyTorch implementation for CPU tensors (a backward
    follows the path its forward took). Because mmdet3d and mmcv bind
    ``op = Function.apply`` by name, every existing reference (``mmcv.ops.gather_points``,
    ``from mmcv.ops import gather_points``, ...) dispatches without being re-bound. The
    stacked (``*_batch_cnt``) forms of ``ball_query`` and ``grouping_operation`` are not
    implemented here and keep mmcv's behaviour.

    ``points_in_boxes_part``/``_all`` (which call ``torch.cuda.current_device()``) and
    ``nms_rotated`` are plain functions; the narrowest dispatch point is the function object
    itself, so a wrapper (``__wrapped__`` = the original, which it calls for non-CPU tensors
    and, for ``nms_rotated``, for every case outside the proven one) is bound in its mmcv
    module, in the ``mmcv.ops`` namespace (which every later ``from mmcv.ops import ...``
    reads) and in the mmdet3d modules that import it by name, if they were imported before
    activation (``mmdet3d.structures.bbox_3d.base_box3d``,
    ``mmdet3d.models.middle_encoders.sparse_encoder``, ``mmdet3d.models.layers.box3d_nms``).

    The kernels follow mmcv's CUDA kernels (index order, tie-breaking, padding,
    gradients, candidate pruning); their semantics are documented once, in
    :mod:`mmdet3d_pointdistiller.ops` and its per-op modules.

Versions
    Written for mmcv 2.1.0 (mmdet3d 1.4.0, torch 2.x). Active only when
    ``torch.cuda.is_available()`` is False; with CUDA the classes and functions are left
    untouched.
"""
from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor

from ..ops import (ball_query_cpu, furthest_point_sample_cpu,
                   furthest_point_sample_with_dist_cpu, gather_points_backward_cpu,
                   gather_points_cpu, grouping_operation_backward_cpu, grouping_operation_cpu,
                   is_cpu, nms_rotated_cpu, points_in_boxes_all_cpu,
                   points_in_boxes_part_cpu, roipoint_pool3d_cpu, three_interpolate_backward_cpu,
                   three_interpolate_cpu, three_nn_cpu)

# the kernels themselves are public in mmdet3d_pointdistiller.ops; this module only rebinds
__all__ = ['point_ops_cpu_needed', 'register_point_ops_cpu', 'unregister_point_ops_cpu']


def _nms_rotated_fast_applicable(dets: Tensor, scores: Tensor, iou_threshold: float,
                                 labels: Optional[Tensor]) -> bool:
    """Inputs for which :func:`nms_rotated_cpu` provably equals mmcv's CPU kernel."""
    return (is_cpu(dets) and is_cpu(scores) and labels is None and dets.dim() == 2
            and dets.shape[0] > 0 and dets.shape[1] == 5 and dets.dtype == torch.float32
            and scores.dtype == torch.float32 and float(iou_threshold) >= 1e-3
            and bool(torch.isfinite(dets).all()) and bool((dets[:, 2:4] > 0).all()))


def _make_nms_rotated_dispatcher(original: Callable) -> Callable:
    """``mmcv.ops.nms_rotated`` with the pruned CPU path for single-label float32 boxes."""

    def nms_rotated(dets: Tensor, scores: Tensor, iou_threshold: float,
                    labels: Optional[Tensor] = None,
                    clockwise: bool = True) -> Tuple[Tensor, Optional[Tensor]]:
        if not _nms_rotated_fast_applicable(dets, scores, iou_threshold, labels):
            return original(dets, scores, iou_threshold, labels, clockwise)
        dets_cw = dets
        if not clockwise:
            flip_mat = dets.new_ones(dets.shape[-1])
            flip_mat[-1] = -1
            dets_cw = dets * flip_mat
        keep_inds = nms_rotated_cpu(dets_cw, scores, iou_threshold)
        kept = torch.cat((dets[keep_inds], scores[keep_inds].reshape(-1, 1)), dim=1)
        return kept, keep_inds

    nms_rotated.__module__ = original.__module__
    nms_rotated.__doc__ = ('CPU dispatcher of mmdet3d_pointdistiller.compat.point_ops_cpu '
                           f'(pruned exact CPU path) around:\n{original.__doc__}')
    nms_rotated.__wrapped__ = original  # type: ignore[attr-defined]
    nms_rotated._pd_cpu_dispatch = True  # type: ignore[attr-defined]
    return nms_rotated


# ------------------------------------------------------------------- autograd dispatch bodies
def _fps_forward(ctx: Any, points_xyz: Tensor, num_points: int) -> Tensor:
    assert points_xyz.is_contiguous()
    output = furthest_point_sample_cpu(points_xyz, num_points)
    ctx.mark_non_differentiable(output)
    return output


def _fps_dist_forward(ctx: Any, points_dist: Tensor, num_points: int) -> Tensor:
    assert points_dist.is_contiguous()
    output = furthest_point_sample_with_dist_cpu(points_dist, num_points)
    ctx.mark_non_differentiable(output)
    return output


def _gather_forward(ctx: Any, features: Tensor, indices: Tensor) -> Tensor:
    assert features.is_contiguous()
    assert indices.is_contiguous()
    output = gather_points_cpu(features, indices)
    ctx.for_backwards = (indices, features.shape[1], features.shape[2])
    ctx.mark_non_differentiable(indices)
    return output


def _gather_backward(ctx: Any, grad_out: Tensor) -> Tuple[Tensor, None]:
    idx, _, n = ctx.for_backwards
    return gather_points_backward_cpu(grad_out.contiguous(), idx, n), None


def _ball_query_forward(ctx: Any, min_radius: float, max_radius: float, sample_num: int,
                        xyz: Tensor, center_xyz: Tensor, *_unused: Any) -> Tensor:
    assert center_xyz.is_contiguous()
    assert xyz.is_contiguous()
    assert min_radius < max_radius
    idx = ball_query_cpu(min_radius, max_radius, sample_num, xyz, center_xyz)
    ctx.mark_non_differentiable(idx)
    return idx


def _group_forward(ctx: Any, features: Tensor, indices: Tensor, *_unused: Any) -> Tensor:
    features = features.contiguous()
    indices = indices.contiguous()
    output = grouping_operation_cpu(features, indices)
    ctx.for_backwards = (indices, features.shape[2])
    return output


def _group_backward(ctx: Any, grad_out: Tensor) -> Tuple[Tensor, None]:
    idx, n = ctx.for_backwards
    return grouping_operation_backward_cpu(grad_out.contiguous(), idx, n), None


def _three_nn_forward(ctx: Any, target: Tensor, source: Tensor) -> Tuple[Tensor, Tensor]:
    dist2, idx = three_nn_cpu(target.contiguous(), source.contiguous())
    ctx.mark_non_differentiable(idx)
    # correctly rounded like CUDA's sqrt (torch's float32 CPU sqrt can be 1 ulp off)
    return torch.sqrt(dist2.double()).to(dist2.dtype), idx


def _three_interp_forward(ctx: Any, features: Tensor, indices: Tensor, weight: Tensor) -> Tensor:
    assert features.is_contiguous()
    assert indices.is_contiguous()
    assert weight.is_contiguous()
    ctx.three_interpolate_for_backward = (indices, weight, features.shape[2])
    return three_interpolate_cpu(features, indices, weight)


def _three_interp_backward(ctx: Any, grad_out: Tensor) -> Tuple[Tensor, None, None]:
    idx, weight, m = ctx.three_interpolate_for_backward
    return three_interpolate_backward_cpu(grad_out.contiguous(), idx, weight, m), None, None


def _roipoint_forward(ctx: Any, points: Tensor, point_features: Tensor, boxes3d: Tensor,
                      num_sampled_points: int = 512) -> Tuple[Tensor, Tensor]:
    return roipoint_pool3d_cpu(points, point_features, boxes3d, num_sampled_points)


def _stacked(args: tuple, first: int) -> bool:
    """Whether the stacked (``*_batch_cnt``) form was called (both counts given)."""
    return len(args) > first + 1 and args[first] is not None and args[first + 1] is not None


# (module, Function class, {staticmethod: (CPU body, picks the tensor whose device decides;
#  None for backward, which follows the path its forward took)})
_FUNCTION_PATCHES: List[Tuple[str, str, Dict[str, Tuple[Callable, Callable]]]] = [
    ('mmcv.ops.furthest_point_sample', 'FurthestPointSampling',
     {'forward': (_fps_forward, lambda a: a[0])}),
    ('mmcv.ops.furthest_point_sample', 'FurthestPointSamplingWithDist',
     {'forward': (_fps_dist_forward, lambda a: a[0])}),
    ('mmcv.ops.gather_points', 'GatherPoints',
     {'forward': (_gather_forward, lambda a: a[0]),
      'backward': (_gather_backward, None)}),
    ('mmcv.ops.ball_query', 'BallQuery',
     {'forward': (_ball_query_forward, lambda a: None if _stacked(a, 5) else a[3])}),
    ('mmcv.ops.group_points', 'GroupingOperation',
     {'forward': (_group_forward, lambda a: None if _stacked(a, 2) else a[0]),
      'backward': (_group_backward, None)}),
    ('mmcv.ops.three_nn', 'ThreeNN', {'forward': (_three_nn_forward, lambda a: a[0])}),
    ('mmcv.ops.three_interpolate', 'ThreeInterpolate',
     {'forward': (_three_interp_forward, lambda a: a[0]),
      'backward': (_three_interp_backward, None)}),
    ('mmcv.ops.roipoint_pool3d', 'RoIPointPool3dFunction',
     {'forward': (_roipoint_forward, lambda a: a[0])}),
]

# Plain functions: (defining module, name, dispatcher factory, modules binding it by name).
_FUNCTION_WRAPPERS: List[Tuple[str, str, Callable[[Callable], Callable], Tuple[str, ...]]] = [
    ('mmcv.ops.points_in_boxes', 'points_in_boxes_part',
     lambda orig: _make_function_dispatcher(orig, points_in_boxes_part_cpu),
     ('mmcv.ops', 'mmdet3d.structures.bbox_3d.base_box3d')),
    ('mmcv.ops.points_in_boxes', 'points_in_boxes_all',
     lambda orig: _make_function_dispatcher(orig, points_in_boxes_all_cpu),
     ('mmcv.ops', 'mmdet3d.structures.bbox_3d.base_box3d',
      'mmdet3d.models.middle_encoders.sparse_encoder')),
    ('mmcv.ops.nms', 'nms_rotated', _make_nms_rotated_dispatcher,
     ('mmcv.ops', 'mmdet3d.models.layers.box3d_nms')),
]

# originals, recorded while the shim is active: (owner object, attribute) -> original
_ORIGINALS: Dict[Tuple[Any, str], Any] = {}


def _make_method_dispatcher(original: Callable, cpu_body: Callable,
                            select: Callable) -> Callable:
    """forward/backward that runs ``cpu_body`` when the selected tensor is on the CPU."""

    def dispatch(ctx: Any, *args: Any) -> Any:
        tensor = select(args)
        if isinstance(tensor, Tensor) and is_cpu(tensor):
            ctx._pd_cpu = True
            return cpu_body(ctx, *args)
        return original(ctx, *args)

    dispatch.__wrapped__ = original  # type: ignore[attr-defined]
    dispatch._pd_cpu_dispatch = True  # type: ignore[attr-defined]
    dispatch.__doc__ = (f'CPU dispatcher of mmdet3d_pointdistiller.compat.point_ops_cpu '
                        f'around:\n{original.__doc__ or ""}')
    return dispatch


def _make_backward_dispatcher(original: Callable, cpu_body: Callable) -> Callable:
    """backward that follows the path its forward took (recorded as ``ctx._pd_cpu``)."""

    def dispatch(ctx: Any, *grads: Any) -> Any:
        if getattr(ctx, '_pd_cpu', False):
            return cpu_body(ctx, *grads)
        return original(ctx, *grads)

    dispatch.__wrapped__ = original  # type: ignore[attr-defined]
    dispatch._pd_cpu_dispatch = True  # type: ignore[attr-defined]
    return dispatch


def _make_function_dispatcher(original: Callable, cpu_fn: Callable) -> Callable:
    """Plain-function dispatcher for ``points_in_boxes_part``/``_all``."""

    def dispatch(points: Tensor, boxes: Tensor) -> Tensor:
        if is_cpu(points):
            return cpu_fn(points, boxes)
        return original(points, boxes)

    dispatch.__name__ = original.__name__
    dispatch.__qualname__ = original.__qualname__
    dispatch.__module__ = original.__module__
    dispatch.__doc__ = (f'CPU dispatcher of mmdet3d_pointdistiller.compat.point_ops_cpu '
                        f'(CPU tensors: {cpu_fn.__name__}) around:\n{original.__doc__}')
    dispatch.__wrapped__ = original  # type: ignore[attr-defined]
    dispatch._pd_cpu_dispatch = True  # type: ignore[attr-defined]
    return dispatch


def _set(owner: Any, name: str, value: Any) -> None:
    if (owner, name) not in _ORIGINALS:
        _ORIGINALS[(owner, name)] = owner.__dict__[name] if isinstance(owner, type) \
            else getattr(owner, name)
    setattr(owner, name, value)


def point_ops_cpu_needed() -> bool:
    """Whether mmcv's CUDA-only point ops need CPU implementations here (no CUDA)."""
    return not torch.cuda.is_available()


def register_point_ops_cpu() -> bool:
    """Install the CPU dispatchers when CUDA is unavailable (idempotent).

    With CUDA available nothing is installed (and dispatchers installed earlier in this
    process are removed), so mmcv's classes and functions are exactly the originals.

    Returns:
        bool: whether the CPU implementations are now in use.
    """
    if not point_ops_cpu_needed():
        unregister_point_ops_cpu()
        return False
    for module_name, cls_name, methods in _FUNCTION_PATCHES:
        cls = getattr(importlib.import_module(module_name), cls_name)
        for meth, (body, select) in methods.items():
            current = cls.__dict__[meth]
            func = current.__func__ if isinstance(current, staticmethod) else current
            if getattr(func, '_pd_cpu_dispatch', False):
                continue
            if meth == 'backward':
                new = _make_backward_dispatcher(func, body)
            else:
                new = _make_method_dispatcher(func, body, select)
            _set(cls, meth, staticmethod(new))
    for module_name, name, factory, importers in _FUNCTION_WRAPPERS:
        module = importlib.import_module(module_name)
        original = getattr(module, name)
        if not getattr(original, '_pd_cpu_dispatch', False):
            _set(module, name, factory(original))
        wrapper = getattr(module, name)
        for mod_name in importers:
            mod = sys.modules.get(mod_name)
            if mod is not None and getattr(mod, name, None) is wrapper.__wrapped__:
                _set(mod, name, wrapper)
    return True


def unregister_point_ops_cpu() -> bool:
    """Restore every original replaced by :func:`register_point_ops_cpu`.

    Modules that imported a dispatching wrapper by name after activation are re-bound to
    the wrapped original as well.

    Returns:
        bool: whether anything was restored.
    """
    restored = bool(_ORIGINALS)
    for (owner, name), original in list(_ORIGINALS.items()):
        setattr(owner, name, original)
    _ORIGINALS.clear()
    for _, name, _, importers in _FUNCTION_WRAPPERS:
        for mod_name in importers:
            current = getattr(sys.modules.get(mod_name), name, None)
            if getattr(current, '_pd_cpu_dispatch', False):
                setattr(sys.modules[mod_name], name, current.__wrapped__)
                restored = True
    return restored


def _original(owner: Any, name: str) -> Optional[Any]:
    """The original recorded for ``owner.name`` while the shim is active (for tests)."""
    return _ORIGINALS.get((owner, name))


def describe_rebinds() -> str:
    """One line naming everything :func:`register_point_ops_cpu` rebinds (for the log)."""
    methods = ', '.join(f'{cls}.{meth}' for _, cls, meths in _FUNCTION_PATCHES for meth in meths)
    funcs = ', '.join(f'{name} (in {", ".join((module,) + importers)})'
                      for module, name, _, importers in _FUNCTION_WRAPPERS)
    return f'{methods}; functions {funcs} -> CPU dispatchers'
