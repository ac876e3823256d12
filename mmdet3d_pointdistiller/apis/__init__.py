"""User-facing entry points over the package (mmdet3d's ``apis`` style)."""
from .adapter_stats import measure_adapter_outputs
from .check_config import check_distill_config, format_report

__all__ = ['check_distill_config', 'format_report', 'measure_adapter_outputs']
