from .distill_stats_hook import DistillStatsHook, adapter_stats, relu_gaussian_variance

__all__ = ['DistillStatsHook', 'adapter_stats', 'relu_gaussian_variance']
