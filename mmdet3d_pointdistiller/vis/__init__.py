"""Pictures: bird's-eye views of detections and distillation selections, training curves.
(Loading a model and a frame for them: :mod:`mmdet3d_pointdistiller.apis.inference`.)"""
from .bev import distiller_selection, draw_bev, plot_training_curves, read_scalars, render_bev

__all__ = ['distiller_selection', 'draw_bev', 'plot_training_curves', 'read_scalars',
           'render_bev']
