"""Distillation wrappers (registered into mmdet3d's ``MODELS``)."""
from .feature_recorder import ModuleOutputRecorder, StopForward
from .pointdistiller_detector import DistillTap, PointDistillerDetector, load_teacher_config

__all__ = ['PointDistillerDetector', 'DistillTap', 'ModuleOutputRecorder', 'StopForward',
           'load_teacher_config']
