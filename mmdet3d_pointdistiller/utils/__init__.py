"""Small utilities shared by tools, benchmarks and tests."""
from .kitti_frame import KITTI_CLASSES, kitti_frame_pipeline, load_kitti_frame

__all__ = ['KITTI_CLASSES', 'kitti_frame_pipeline', 'load_kitti_frame']
