"""Preprocessed-batch helpers of the distiller: drop empty samples, copy the teacher's inputs.

Notation: ``B`` samples, ``P_b`` points of sample ``b``, ``M`` voxels of the batch, ``D``
voxel grid dimensions (``coors`` rows are ``(b, z, y, x)`` for D = 3).
"""
from __future__ import annotations

import logging
from typing import Any, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor

from mmdet3d.structures.det3d_data_sample import SampleList

__all__ = ['clone_tensors', 'drop_empty_samples']


def clone_tensors(obj: Any) -> Any:
    """Copy of ``obj`` in which every Tensor of nested dicts/lists/tuples is cloned."""
    if isinstance(obj, Tensor):
        return obj.clone()
    if isinstance(obj, dict):
        return {k: clone_tensors(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(clone_tensors(v) for v in obj)
    return obj


def _describe_sample(sample: Any, index: int) -> str:
    meta = getattr(sample, 'metainfo', {}) or {}
    known = [f'{k}={meta[k]}' for k in ('sample_idx', 'lidar_path') if k in meta]
    return f'sample {index}' + (f' ({", ".join(known)})' if known else '')


def drop_empty_samples(inputs: dict, samples: SampleList) -> Tuple[dict, SampleList]:
    """Remove the samples without points / voxels from a preprocessed batch.

    mmdet3d's voxel detectors take the batch size from the sample index of the last voxel, so
    an empty last sample shrinks the feature batch and fails much later with a shape
    mismatch inside the head's loss; an empty sample elsewhere trains the head on an all-zero
    feature map. Such samples are dropped (warning naming each one); a batch with no
    non-empty sample raises.

    Args:
        inputs (dict): ``points`` (list of (P_b, C) Tensors), optionally ``voxels`` (dict
            whose ``coors`` (M, 1 + D) start with the sample index) and other per-sample
            lists / (B, ...) Tensors (e.g. ``imgs``).
        samples (list[Det3DDataSample]): B data samples.

    Returns:
        tuple[dict, list]: the inputs (``coors`` sample indices renumbered) and samples of the
        non-empty samples; the same objects when no sample is empty.

    Raises:
        ValueError: if every sample is empty, naming them.
    """
    num = len(samples)
    voxels = inputs.get('voxels')
    points = inputs.get('points')
    if isinstance(voxels, dict) and isinstance(voxels.get('coors'), Tensor):
        what = 'voxels (no point inside the voxelization range)'
        counts = torch.bincount(voxels['coors'][:, 0].long(), minlength=num)[:num].tolist()
    elif isinstance(points, (list, tuple)) and len(points) == num:
        what = 'points'
        counts = [len(p) for p in points]
    else:
        return inputs, samples
    if all(counts):
        return inputs, samples
    empty = '; '.join(_describe_sample(samples[i], i) for i, c in enumerate(counts) if c == 0)
    keep = [i for i, c in enumerate(counts) if c > 0]
    if not keep:
        raise ValueError(f'every sample of the batch has no {what}: {empty}. Check the point '
                         f'files and the PointsRangeFilter / voxel_layer.point_cloud_range')
    print_log(f'PointDistillerDetector: dropped from this training batch, without {what}: '
              f'{empty}', logger='current', level=logging.WARNING)
    out = dict(inputs)
    for key, value in inputs.items():
        if key == 'voxels' and isinstance(value, dict) and 'coors' in value:
            renumber = torch.full((num, ), -1, dtype=torch.long, device=value['coors'].device)
            renumber[keep] = torch.arange(len(keep), device=renumber.device)
            coors = value['coors'].clone()
            coors[:, 0] = renumber[coors[:, 0].long()].to(coors.dtype)
            out[key] = dict(value, coors=coors)
        elif isinstance(value, (list, tuple)) and len(value) == num:
            out[key] = [value[i] for i in keep]
        elif isinstance(value, Tensor) and value.dim() > 0 and value.shape[0] == num:
            out[key] = value[keep]
    return out, [samples[i] for i in keep]
