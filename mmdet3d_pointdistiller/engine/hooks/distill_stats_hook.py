"""``DistillStatsHook``: logs the state of PointDistiller's adapters during training.

Both adapters (teacher side gamma_T and student side gamma_S: 1x1 conv + BN + ReLU) are
trained only by the imitation loss, which has a trivial minimum: both adapters output the same
constant (BN scale gamma -> 0, shift beta <= 0, ReLU -> 0) and the loss vanishes without the
student learning anything. Weight decay pushes towards it. The hook logs, every ``interval``
iterations and per tap, into the training log and ``vis_data/scalars.json``:

* ``kd_<tap>_gamma_t`` / ``kd_<tap>_gamma_s``: mean |gamma| of the adapters' BN;
* ``kd_<tap>_var_t`` / ``kd_<tap>_var_s``: mean over channels of the adapter output variance
  ``Var[ReLU(gamma z + beta)]`` with z ~ N(0, 1) (the BN output in training mode has zero
  mean and unit variance per channel; Gaussian approximation), i.e. how much signal the
  graph features G_T / G_S still carry; a collapse drives it to 0.

* ``kd_<tap>_neff``: the effective number of weighted queries per sample,
  ``(sum_i w_i)^2 / sum_i w_i^2`` over the sample's N_b queries (``last_selection``), averaged
  over the batch: N_b for uniform weights, 1 when one query carries all the weight (e.g. the
  released code's tau = 0.01 on integer point counts).

Importing ``mmdet3d_pointdistiller`` registers it; add it to a distillation config with::

    custom_hooks = [dict(type='DistillStatsHook')]
"""
from __future__ import annotations

import math
from typing import Dict, Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmdet3d.registry import HOOKS

__all__ = ['DistillStatsHook', 'relu_gaussian_variance', 'adapter_stats',
           'effective_queries']


def relu_gaussian_variance(gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``Var[ReLU(gamma z + beta)]`` for z ~ N(0, 1), element-wise (closed form)."""
    g = gamma.abs().clamp_min(1e-12)
    a = beta / g
    cdf = 0.5 * (1 + torch.erf(a / math.sqrt(2)))
    pdf = torch.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)
    mean = beta * cdf + g * pdf
    second = (beta * beta + g * g) * cdf + beta * g * pdf
    return (second - mean * mean).clamp_min(0)


def adapter_stats(loss_module) -> Optional[Dict[str, float]]:
    """Mean |gamma| and output variance of a PointDistillerLoss's two adapters (None if the
    module has no BN adapters)."""
    out = {}
    for side, adapter in (('t', getattr(loss_module, 'teacher_adapter', None)),
                          ('s', getattr(loss_module, 'student_adapter', None))):
        if adapter is None or not getattr(adapter, 'with_norm', False):
            return None
        bn = adapter.norm
        gamma, beta = bn.weight.detach().float(), bn.bias.detach().float()
        out[f'gamma_{side}'] = float(gamma.abs().mean())
        if getattr(adapter, 'with_activation', False):
            out[f'var_{side}'] = float(relu_gaussian_variance(gamma, beta).mean())
        else:
            out[f'var_{side}'] = float((gamma * gamma).mean())
    return out


def effective_queries(selection) -> Optional[float]:
    """Mean over samples of ``(sum w)^2 / sum w^2`` of a loss module's ``last_selection``
    (a list of dicts with a ``weight`` (N_b,) tensor); None if no sample has a query."""
    values = []
    for sel in selection or []:
        w = sel.get('weight') if isinstance(sel, dict) else None
        if w is None or w.numel() == 0:
            continue
        w = w.detach().double()
        values.append(float(w.sum() ** 2 / (w * w).sum().clamp_min(1e-300)))
    return sum(values) / len(values) if values else None


@HOOKS.register_module()
class DistillStatsHook(Hook):
    """Log the adapters' BN scale and output variance of every distillation tap.

    Args:
        interval (int): every ``interval`` training iterations (and the first one); the
            logger averages the values over its own window (default 1: every iteration).
    """

    priority = 'NORMAL'  # before LoggerHook (BELOW_NORMAL): logged at the same iteration

    def __init__(self, interval: int = 1) -> None:
        if interval < 1:
            raise ValueError(f'DistillStatsHook.interval must be >= 1, got {interval}')
        self.interval = interval

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not (self.every_n_train_iters(runner, self.interval) or runner.iter == 0):
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        losses = getattr(model, 'distill_losses', None)
        if not losses:
            return
        for name, module in losses.items():
            stats = adapter_stats(module) or {}
            neff = effective_queries(getattr(module, 'last_selection', None))
            if neff is not None:
                stats['neff'] = neff
            for key, value in stats.items():
                runner.message_hub.update_scalar(f'train/kd_{name}_{key}', value)
