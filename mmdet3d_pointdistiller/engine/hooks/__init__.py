from .distill_stats_hook import DistillStatsHook, adapter_stats, relu_gaussian_variance
from .precise_bn_hook import PreciseBNHook, update_bn_stats

__all__ = ['DistillStatsHook', 'adapter_stats', 'relu_gaussian_variance', 'PreciseBNHook',
           'update_bn_stats']
