from .distill_stats_hook import DistillStatsHook, bn_stats
from .precise_bn_hook import PreciseBNHook, update_bn_stats

__all__ = ['DistillStatsHook', 'bn_stats', 'PreciseBNHook',
           'update_bn_stats']
