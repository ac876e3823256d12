"""Tensor-mode forward of any mmdet3d detector, multi-modality (MVX) ones included.

mmdet3d's single-stage and two-stage point detectors implement ``_forward(inputs, samples)``
(features + raw head outputs, no decoding). ``MVXTwoStageDetector`` and its subclasses
(CenterPoint, MVXFasterRCNN) leave it unimplemented (``def _forward(self): pass``); for them
the point features are extracted with the input metas, as their ``loss`` and ``predict`` do,
and handed to the point head(s). Used wherever the package needs head outputs without losses
or decoding: the distiller's teacher (a ``'head'`` tap) and precise BN statistics.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from torch import nn

from mmdet3d.models.detectors import MVXTwoStageDetector

__all__ = ['tensor_forward']


def tensor_forward(detector: nn.Module, batch_inputs_dict: dict, data_samples: Sequence,
                   heads: Optional[Sequence[str]] = None) -> Any:
    """Features and raw head outputs of ``detector`` in tensor mode.

    Args:
        detector: an mmdet3d detector.
        batch_inputs_dict (dict): preprocessed inputs (``points``, ``voxels`` ...).
        data_samples (list[Det3DDataSample]): the batch's samples (MVX: their metainfo).
        heads (Sequence[str], optional): MVX only: the top-level heads to run on the point
            features; default ``['pts_bbox_head']`` when the detector has one.

    Returns:
        The detector's ``_forward`` output, or for an MVX detector a dict
        ``{head name: head output}`` (CenterHead: a tuple over tasks of ``[dict(heatmap=...,
        reg=..., ...)]``).
    """
    if not isinstance(detector, MVXTwoStageDetector):
        return detector._forward(batch_inputs_dict, data_samples)
    metas = [s.metainfo for s in data_samples]
    _, pts_feats = detector.extract_feat(batch_inputs_dict, metas)
    if heads is None:
        heads = ['pts_bbox_head'] if detector.with_pts_bbox else []
    return {name: getattr(detector, name)(pts_feats) for name in heads}
