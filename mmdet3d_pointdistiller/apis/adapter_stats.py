"""Measure what a distillation checkpoint's adapters output (``tools/measure_adapters.py``).

Loads a training checkpoint of ``PointDistillerDetector`` into its config's model, runs the
training forward (no optimizer step) on a few training batches of the config's own data
loader, or on one KITTI-format frame, and returns per tap the measured statistics of
:class:`~mmdet3d_pointdistiller.models.losses.edge_adapters.OutputStats` (output variance,
live fraction, effective dimensions of the teacher- and student-side adapter outputs) and the
KD loss, averaged over the batches. It is how a collapse is diagnosed after the fact, e.g.
on the checkpoints a benchmark run left behind.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint

from mmdet3d.registry import MODELS
from mmdet3d_pointdistiller.utils import load_kitti_frame, merge_cfg_options

__all__ = ['measure_adapter_outputs']


def measure_adapter_outputs(config: Union[str, Path], checkpoint: Union[str, Path],
                            batches: int = 3, frame_dir: Optional[Union[str, Path]] = None,
                            cfg_options: Sequence[str] = (), seed: int = 0
                            ) -> Dict[str, Dict[str, float]]:
    """Per tap ``{stat: mean over batches}`` of the adapter outputs and ``loss`` (the tap's KD
    term), measured with the checkpoint's weights.

    Args:
        config: the distillation config the checkpoint was trained with.
        checkpoint: a training checkpoint (``student.*``, ``teacher.*``, ``distill_losses.*``).
        batches: training batches to average over (the config's train loader, augmentations
            included, seeded with ``seed``).
        frame_dir: instead of the train loader, one KITTI-format frame (``000008.pkl`` and its
            point cloud, e.g. ``tests/data/kitti_real``), used ``batches`` times.
        cfg_options: ``key=value`` overrides.

    Raises:
        ValueError: the model has no PointDistiller tap.
    """
    cfg = Config.fromfile(str(config))
    merge_cfg_options(cfg, cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet3d'))
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(cfg.model))
    load_checkpoint(model, str(checkpoint), map_location='cpu', strict=True)
    model.train()
    losses_of = {n: m for n, m in getattr(model, 'distill_losses', {}).items()
                 if hasattr(m, 'measure_outputs')}
    if not losses_of:
        raise ValueError(f'{config}: no PointDistillerLoss tap to measure')
    for module in losses_of.values():
        module.measure_outputs = True
    if frame_dir is not None:
        pcr = model.student.voxel_encoder.point_cloud_range
        item = load_kitti_frame(frame_dir, pcr, train=True, seed=seed)
        source = (pseudo_collate([copy.deepcopy(item)]) for _ in range(batches))
    else:
        source = iter(Runner.build_dataloader(cfg.train_dataloader, seed=seed))
    sums: Dict[str, Dict[str, list]] = {name: {} for name in losses_of}
    with torch.no_grad():
        for _, batch in zip(range(batches), source):
            data = model.data_preprocessor(batch, True)
            losses = model.loss(data['inputs'], data['data_samples'])
            for name, module in losses_of.items():
                stats = dict(module.last_output_stats, loss=float(losses[f'loss_pd_{name}']))
                for key, value in stats.items():
                    sums[name].setdefault(key, []).append(value)
    return {name: {k: sum(v) / len(v) for k, v in stats.items()}
            for name, stats in sums.items()}
