"""Deployment of PointPillars-family and pillar-CenterPoint students: ONNX export, ONNX
Runtime inference with mmdet3d's own voxelisation and post-processing, and parity checks
against PyTorch.

Needs the optional ``deploy`` extra (``onnx``, ``onnxruntime``); importing this subpackage
does not import them, the functions that use them do.
"""
from .models import MODEL_NAMES, named_config, with_student_widths
from .centerpoint_onnx import CenterPointOnnxNet
from .parity import compare_predictions, iou_3d_float64, max_abs_diff
from .pointpillars_onnx import (EXPORTER, ONNX_OPSET, OnnxPointPillars, PointPillarsOnnxNet,
                                TorchPointPillars, UnsupportedModelError, build_detector,
                                check_exportable, export_onnx, make_net, read_model_cfg)

__all__ = ['MODEL_NAMES', 'named_config', 'with_student_widths', 'EXPORTER', 'ONNX_OPSET',
           'CenterPointOnnxNet', 'OnnxPointPillars', 'PointPillarsOnnxNet', 'TorchPointPillars',
           'make_net',
           'UnsupportedModelError', 'build_detector', 'check_exportable',
           'compare_predictions', 'export_onnx', 'iou_3d_float64', 'max_abs_diff', 'read_model_cfg']
