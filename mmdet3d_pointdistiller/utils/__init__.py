"""Small utilities shared by tools, benchmarks and tests."""
from .cfg_options import merge_cfg_options
from .config_files import load_config
from .kitti_classes import INFO_CATEGORIES, REPORT_ORDER, THREE_CLASSES
from .kitti_frame import kitti_frame_pipeline, load_kitti_frame
from .machine import cpu_model_name
from .random_teacher import save_random_teacher

__all__ = ['INFO_CATEGORIES', 'REPORT_ORDER', 'THREE_CLASSES', 'cpu_model_name',
           'kitti_frame_pipeline', 'load_config', 'load_kitti_frame', 'merge_cfg_options',
           'save_random_teacher']
