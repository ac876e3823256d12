"""Layers of mmdet3d models computed faster, with the same function (``pfn_fastpath``)."""
from .pfn_fastpath import (FoldedPFNLayer, RealPointsPFNLayer, fold_teacher_pfn, foldable,
                           use_real_points_pfn)

__all__ = ['FoldedPFNLayer', 'RealPointsPFNLayer', 'fold_teacher_pfn', 'foldable',
           'use_real_points_pfn']
