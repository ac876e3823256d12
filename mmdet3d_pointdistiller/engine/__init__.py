"""Training-loop pieces (hooks), registered into mmdet3d's registries on import."""
from .hooks import DistillStatsHook

__all__ = ['DistillStatsHook']
