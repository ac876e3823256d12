from .distill_stats_hook import DistillStatsHook, bn_stats
from .precise_bn_hook import PreciseBNHook, update_bn_stats
from .real_points_pfn_hook import RealPointsPFNHook

__all__ = ['DistillStatsHook', 'bn_stats', 'PreciseBNHook', 'RealPointsPFNHook',
           'update_bn_stats']
