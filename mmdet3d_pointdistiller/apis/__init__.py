"""User-facing entry points over the package (mmdet3d's ``apis`` style)."""
from .check_config import check_distill_config, format_report

__all__ = ['check_distill_config', 'format_report']
