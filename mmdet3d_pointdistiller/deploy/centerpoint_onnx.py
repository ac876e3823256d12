"""The pillar-CenterPoint part of the ONNX export (:mod:`.pointpillars_onnx` runs it).

Same split as the PointPillars export (mmdeploy's for mmdet3d voxel detectors):

* **outside the graph, before it**: mmdet3d's hard voxelisation (``Det3DDataPreprocessor``);
* **in the graph**: the point branch of mmdet3d's ``CenterPoint``: ``PillarFeatureNet``
  (``pts_voxel_encoder``), the ``PointPillarsScatter`` of one sample, the ``SECOND`` backbone,
  the ``SECONDFPN`` neck and every convolution of the ``CenterHead`` (shared conv, each task's
  separate heads). Inputs ``voxels (V, P, C_in)``, ``num_points (V,)``, ``coors (V, 4)``;
  outputs, per task ``t`` and head ``h`` in the head's own order (``reg``, ``height``,
  ``dim``, ``rot``, [``vel``], ``heatmap``), ``task<t>.<h>`` of shape (1, C_h, H, W);
* **outside the graph, after it**: mmdet3d's own ``CenterHead.predict_by_feat`` (sigmoid,
  top-k decoding by ``CenterPointBBoxCoder``, rotated or circle NMS as the config's
  ``test_cfg.pts.nms_type`` says).
"""
from __future__ import annotations

import copy
from typing import Dict, List, Sequence, Tuple

from mmengine.config import ConfigDict
from torch import Tensor, nn

from mmdet3d.registry import MODELS

__all__ = ['centerpoint_problems', 'CenterPointOnnxNet', 'task_heads', 'output_names',
           'parse_output_names', 'split_outputs', 'build_head']

TaskHeads = List[Tuple[str, ...]]


def centerpoint_problems(model: ConfigDict) -> List[str]:
    """Why a ``CenterPoint`` config cannot be exported (empty when it can)."""
    problems = []
    encoder = (model.get('pts_voxel_encoder') or {}).get('type')
    middle = (model.get('pts_middle_encoder') or {}).get('type')
    head = (model.get('pts_bbox_head') or {}).get('type')
    if encoder != 'PillarFeatureNet':
        problems.append(f'pts_voxel_encoder is {encoder!r}, not PillarFeatureNet (voxel '
                        f'CenterPoint needs sparse 3-D convolutions, which ONNX lacks)')
    if middle != 'PointPillarsScatter':
        problems.append(f'pts_middle_encoder is {middle!r}, not PointPillarsScatter')
    if head != 'CenterHead':
        problems.append(f'pts_bbox_head is {head!r}, not CenterHead')
    sep = (model.get('pts_bbox_head') or {}).get('separate_head') or {}
    if sep.get('type', 'SeparateHead') != 'SeparateHead':
        problems.append(f"pts_bbox_head.separate_head is {sep.get('type')!r} (deformable "
                        f'convolutions have no ONNX operator), not SeparateHead')
    if model.get('img_backbone') is not None:
        problems.append('the model has an image branch (img_backbone)')
    return problems


def task_heads(head: nn.Module) -> TaskHeads:
    """The output keys of every task of a built ``CenterHead``, in its forward order."""
    return [tuple(task.heads) for task in head.task_heads]


def output_names(heads: TaskHeads) -> List[str]:
    """ONNX output names ``task<t>.<head>``."""
    return [f'task{t}.{h}' for t, keys in enumerate(heads) for h in keys]


def parse_output_names(names: Sequence[str]) -> TaskHeads:
    """Inverse of :func:`output_names`: the task heads of an exported file, read from its
    outputs (the graph, not a rebuilt head: a config stored as text has its dict keys sorted)."""
    heads: Dict[int, List[str]] = {}
    for name in names:
        task, _, key = name.partition('.')
        if not task.startswith('task') or not key:
            raise ValueError(f'{name!r} is not a CenterPoint output name task<t>.<head>')
        heads.setdefault(int(task[4:]), []).append(key)
    return [tuple(heads[t]) for t in sorted(heads)]


def split_outputs(outs: Sequence[Tensor], heads: TaskHeads) -> Tuple[List[Dict[str, Tensor]]]:
    """Flat outputs -> ``CenterHead.forward``'s layout: a tuple over tasks of ``[dict]``."""
    out, i = [], 0
    for keys in heads:
        out.append([dict(zip(keys, outs[i:i + len(keys)]))])
        i += len(keys)
    if i != len(outs):
        raise ValueError(f'{len(outs)} outputs for {i} task heads')
    return tuple(out)


def build_head(model_cfg: ConfigDict) -> nn.Module:
    """The ``CenterHead`` of ``model_cfg`` (weights unused: decoding only) in eval mode."""
    head_cfg = copy.deepcopy(model_cfg.pts_bbox_head)
    train_cfg, test_cfg = model_cfg.get('train_cfg') or {}, model_cfg.get('test_cfg') or {}
    head_cfg.update(train_cfg=train_cfg.get('pts'), test_cfg=test_cfg.get('pts'))
    return MODELS.build(head_cfg).eval()


class CenterPointOnnxNet(nn.Module):
    """Pillar encoder -> scatter (one sample) -> backbone -> neck -> CenterHead convolutions;
    the submodules are the detector's own (shared, not copied)."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.voxel_encoder = detector.pts_voxel_encoder
        self.middle_encoder = detector.pts_middle_encoder
        self.backbone = detector.pts_backbone
        self.neck = detector.pts_neck if detector.with_pts_neck else None
        self.head = detector.pts_bbox_head
        self.heads = task_heads(self.head)

    def output_names(self) -> List[str]:
        return output_names(self.heads)

    def forward(self, voxels: Tensor, num_points: Tensor, coors: Tensor) -> Tuple[Tensor, ...]:
        """Args as :class:`~.pointpillars_onnx.PointPillarsOnnxNet`; returns the maps of
        :meth:`output_names`, each (1, C, H, W)."""
        feats = self.voxel_encoder(voxels.clone(), num_points, coors)  # (V, C)
        canvas = self.middle_encoder(feats, coors)  # batch of one: (1, C, ny, nx)
        x = self.backbone(canvas)
        if self.neck is not None:
            x = self.neck(x)
        per_task = self.head(x)  # tuple over tasks of [dict]
        return tuple(levels[0][h] for levels, keys in zip(per_task, self.heads) for h in keys)
