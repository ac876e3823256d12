"""Distillation wrappers (registered into mmdet3d's ``MODELS``).

* :mod:`.pointdistiller_detector`: ``PointDistillerDetector``, the algorithm (teacher pass,
  student loss, one KD term per tap);
* :mod:`.tap`: ``distill_cfg`` parsing and the selection / checks of each tap's features;
* :mod:`.teacher`: teacher config, checkpoint and state-dict rules;
* :mod:`.feature_recorder`: recording of tapped module outputs;
* :mod:`.batch`: preprocessed-batch helpers (empty samples, input copies).
"""
from .feature_recorder import ModuleOutputRecorder, StopForward
from .pointdistiller_detector import PointDistillerDetector
from .tap import DistillTap, parse_distill_cfg
from .teacher import load_teacher_config

__all__ = ['PointDistillerDetector', 'DistillTap', 'ModuleOutputRecorder', 'StopForward',
           'load_teacher_config', 'parse_distill_cfg']
