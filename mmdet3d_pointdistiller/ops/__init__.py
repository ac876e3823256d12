"""Operator library of the package: CPU implementations of mmcv's CUDA-only point ops.

Laid out like ``mmcv/ops``, one module per op (family):

============================  ==========================================================
module                        kernels
============================  ==========================================================
:mod:`.furthest_point_sample` ``furthest_point_sample(_with_dist)_cpu``
:mod:`.gather_points`         ``gather_points(_backward)_cpu``,
                              ``grouping_operation(_backward)_cpu``
:mod:`.ball_query`            ``ball_query_cpu``
:mod:`.three_nn`              ``three_nn_cpu``, ``three_interpolate(_backward)_cpu``
:mod:`.points_in_boxes`       ``points_in_boxes_flags/part/all_cpu``, ``box_point_pairs``
:mod:`.roipoint_pool3d`       ``roipoint_pool3d_cpu``
:mod:`.nms_rotated`           ``nms_rotated_cpu`` (pruned exact path of mmcv's CPU kernel)
:mod:`._common`               shared helpers: ``TILE``, ``is_cpu``, ``row_chunks``,
                              ``sq_dist``, ``grid_candidates``
============================  ==========================================================

Plain functions on CPU tensors, with the semantics of mmcv 2.1.0's CUDA kernels
(``mmcv/ops/csrc/common/cuda/*_cuda_kernel.cuh``); each module documents its op's
notation and edge cases. Importing this package changes nothing;
:mod:`mmdet3d_pointdistiller.compat.point_ops_cpu` dispatches mmcv's autograd ``Function``
classes and plain functions to these kernels for CPU tensors when CUDA is unavailable.

Semantics common to all kernels
    int32 indices. Gradients exist exactly where mmcv has them (features of
    ``gather_points``, ``grouping_operation``, ``three_interpolate``; none for weights or
    indices).

    Large inputs are never compared all-against-all: ball query, points-in-boxes and
    RoI pooling test only candidate pairs from a BEV grid within a conservative reach
    (radius, or box half-diagonal, plus a margin), ``three_nn`` bounds each x-sorted group's
    third-neighbour distance first, and ``nms_rotated_cpu`` skips pairs whose IoU upper bound
    (areas, axis-aligned overlap) is below the threshold. Every candidate gets the kernel's
    exact test, so results equal the all-pairs evaluation (tests/test_compat_point_ops.py).

    Distances are computed as the kernels write them, each multiply and add rounded to the
    input dtype. A CUDA build may contract them into fused multiply-adds, which changes a
    squared distance by at most an ulp and so can flip a decision only for a point within
    rounding error of a radius, a box face or an FPS tie.
"""
from ._common import TILE, grid_candidates, is_cpu, row_chunks, sq_dist
from .ball_query import ball_query_cpu
from .furthest_point_sample import furthest_point_sample_cpu, furthest_point_sample_with_dist_cpu
from .gather_points import (gather_points_backward_cpu, gather_points_cpu,
                            grouping_operation_backward_cpu, grouping_operation_cpu)
from .nms_rotated import nms_rotated_cpu
from .points_in_boxes import (box_point_pairs, points_in_boxes_all_cpu, points_in_boxes_flags_cpu,
                              points_in_boxes_part_cpu)
from .roipoint_pool3d import roipoint_pool3d_cpu
from .three_nn import three_interpolate_backward_cpu, three_interpolate_cpu, three_nn_cpu

__all__ = [
    # kernels
    'furthest_point_sample_cpu', 'furthest_point_sample_with_dist_cpu', 'gather_points_cpu',
    'gather_points_backward_cpu', 'ball_query_cpu', 'grouping_operation_cpu',
    'grouping_operation_backward_cpu', 'three_nn_cpu', 'three_interpolate_cpu',
    'three_interpolate_backward_cpu', 'points_in_boxes_flags_cpu', 'points_in_boxes_part_cpu',
    'points_in_boxes_all_cpu', 'roipoint_pool3d_cpu', 'nms_rotated_cpu',
    # public helpers
    'TILE', 'is_cpu', 'row_chunks', 'sq_dist', 'grid_candidates', 'box_point_pairs'
]
