"""Train and test a PointPillars-style model with its pillar encoder's first layer computed on
the real points only (``RealPointsPFNLayer``: same function and gradients, a tenth of the
layer's time on sparse pillars), switched on from a config::

    custom_hooks = [dict(type='RealPointsPFNHook')]

The hook replaces the layer in the built model before the run starts (training and
``mim test`` alike); ``state_dict`` keys do not change, so checkpoints load into the plain
mmdet3d model and back. A distiller's frozen teacher keeps its own folded layer
(``teacher_fast_pfn``).
"""
from __future__ import annotations

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmdet3d.registry import HOOKS
from ...models.layers import use_real_points_pfn

__all__ = ['RealPointsPFNHook']


@HOOKS.register_module()
class RealPointsPFNHook(Hook):
    """Replace the first ``PFNLayer`` of every single-layer pillar encoder of the runner's
    model by ``RealPointsPFNLayer`` before the run.

    Raises:
        ValueError: the model has no pillar encoder that qualifies (a single max-mode
            ``PFNLayer`` with ``BatchNorm1d``), so the config key would do nothing.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        replaced = use_real_points_pfn(model)
        if not replaced:
            raise ValueError(
                'custom_hooks: RealPointsPFNHook found no pillar encoder to speed up (it needs '
                "a PillarFeatureNet with one PFNLayer, mode='max', BatchNorm1d); remove it from "
                'the config')
        print_log(f'RealPointsPFNHook: {replaced} pillar-encoder layer(s) computed on the real '
                  'points only (same function)', logger='current')
