"""User-facing entry points over the package (mmdet3d's ``apis`` style)."""
from .adapter_stats import measure_adapter_outputs
from .check_config import check_distill_config, format_report
from .inference import gt_from_info, load_detector, load_frame, predict_frame

__all__ = ['check_distill_config', 'format_report', 'gt_from_info', 'load_detector', 'load_frame',
           'measure_adapter_outputs', 'predict_frame']
