"""PointDistiller losses (registered into mmdet3d's ``MODELS``)."""
from .centerhead_distill_loss import CenterHeadDistillLoss
from .graph_ops import chunked_feature_knn, gather_edge_projection
from .pointdistiller_loss import PointDistillerLoss
from .selection import effective_queries, recording_selections
from . import kd_methods  # noqa: F401  registers the Table 3 KD losses

__all__ = ['CenterHeadDistillLoss', 'PointDistillerLoss', 'chunked_feature_knn',
           'gather_edge_projection', 'effective_queries', 'recording_selections']
