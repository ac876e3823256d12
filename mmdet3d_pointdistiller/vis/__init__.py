"""Pictures: bird's-eye views of detections and distillation selections, training curves."""
from .bev import (distiller_selection, draw_bev, gt_from_info, load_detector, load_frame,
                  plot_training_curves, predict_frame, read_scalars, render_bev)

__all__ = ['distiller_selection', 'draw_bev', 'gt_from_info', 'load_detector', 'load_frame',
           'plot_training_curves', 'predict_frame', 'read_scalars', 'render_bev']
