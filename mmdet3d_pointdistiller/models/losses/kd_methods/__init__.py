"""The seven earlier KD methods of the PointDistiller paper's Table 3, as registry losses.

Each module is one distiller tap's loss (``loss(teacher_feat, student_feat, **kwargs)``)
with its adapters inside; how each method is adapted to point-cloud detectors is described
in the class docstrings and in ``configs/kd_methods/README.md``.
"""
from .attention_nonlocal import AttentionNonLocalKDLoss, channel_attention, spatial_attention
from .attention_transfer import AttentionTransferLoss
from .base import FeatureKDLoss
from .crd import CRDLoss
from .fitnets import FitNetsLoss
from .overhaul import OverhaulKDLoss, bn_margin
from .se_ssd import SESSDConsistencyLoss
from .similarity_preserving import SimilarityPreservingLoss

__all__ = ['FeatureKDLoss', 'FitNetsLoss', 'AttentionTransferLoss', 'SimilarityPreservingLoss',
           'CRDLoss', 'OverhaulKDLoss', 'AttentionNonLocalKDLoss', 'SESSDConsistencyLoss',
           'bn_margin', 'spatial_attention', 'channel_attention']
