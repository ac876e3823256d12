"""``DistillStatsHook``: measures the state of every distillation tap during training and warns
when the KD loss has collapsed.

With the paper's adapters (teacher side gamma_T and student side gamma_S both trainable 1x1
conv + BN + ReLU, trained only by the imitation loss) the loss has a trivial zero: both
adapters go silent (BN shift below zero before the ReLU), 0 = 0, gradient 0, and the run is
plain student training from then on. The hook makes that visible. Every ``interval``
iterations (and the first) it logs per tap ``<tap>`` into the training log and
``vis_data/scalars.json``, all *measured* on the batch, not derived from parameters:

* ``kd_<tap>_out_var_t`` / ``_s``: mean over the C' channels of the variance of the adapter
  outputs G_T / G_S over all edges of the batch (how much signal they carry);
* ``kd_<tap>_out_active_t`` / ``_s``: fraction of those outputs that are non-zero (after a
  ReLU, the live units);
* ``kd_<tap>_out_dims_t`` / ``_s``: the participation ratio of the outputs' channel
  covariance, the effective number of independent channels (1 to C'): unit-variance channels
  that all copy one direction also make the loss vanish;
* ``kd_<tap>_gamma_t/s`` and ``kd_<tap>_bg_t/s``: mean |gamma| and mean beta / |gamma| of the
  adapter's BN (affine BN only): beta / |gamma| well below 0 before a ReLU means a dead unit;
* ``kd_<tap>_loss_ratio``: the KD loss over its mean in the first ``ref_iters`` iterations
  (``kd_detection_ratio``: the same for the detection loss);
* ``kd_<tap>_neff``: the effective number of weighted queries per sample,
  ``(sum_i w_i)^2 / sum_i w_i^2`` (N_b for uniform weights, 1 when one query has all the
  weight), measured by the loss itself (``measure_outputs``).

It warns once per tap, naming the tap and its config key ``model.distill_cfg[i].loss``, when
the KD loss has fallen below ``collapse_ratio`` (1 %) of its early mean while the detection
loss has not, when fewer than ``min_active`` (5 %) of an adapter's outputs are active, or when
the teacher-side outputs have fewer than ``min_dims`` (1.5) effective dimensions.

Importing ``mmdet3d_pointdistiller`` registers it; add it to a distillation config with::

    custom_hooks = [dict(type='DistillStatsHook')]
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmdet3d.registry import HOOKS

__all__ = ['DistillStatsHook', 'bn_stats']

KD_PREFIX = 'loss_pd_'


def bn_stats(loss_module) -> Dict[str, float]:
    """Mean |gamma| and mean beta / |gamma| of the affine BN of each adapter of a
    PointDistillerLoss (``gamma_t``, ``bg_t``, ``gamma_s``, ``bg_s``; a side without an
    affine BN is left out)."""
    out = {}
    for side in ('t', 's'):
        adapter = getattr(loss_module, ('teacher' if side == 't' else 'student') + '_adapter',
                          None)
        bn = getattr(adapter, 'norm', None) if getattr(adapter, 'with_norm', False) else None
        if bn is None or getattr(bn, 'weight', None) is None:
            continue
        gamma, beta = bn.weight.detach().double(), bn.bias.detach().double()
        out[f'gamma_{side}'] = float(gamma.abs().mean())
        out[f'bg_{side}'] = float((beta / gamma.abs().clamp_min(1e-12)).mean())
    return out


def _scalar(value) -> float:
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


@HOOKS.register_module()
class DistillStatsHook(Hook):
    """Measure every distillation tap's adapters and KD loss; warn once on a collapse.

    Args:
        interval (int): measure every ``interval`` training iterations (and the first); the
            logger averages the values over its own window (default 1: every iteration).
        ref_iters (int): iterations over which the reference (early) means of the KD and
            detection losses are taken (default 100).
        collapse_ratio (float): warn when a tap's KD loss is below this fraction of its
            reference mean while the detection loss is not (default 0.01).
        min_active (float): warn when fewer than this fraction of an adapter's outputs are
            non-zero (default 0.05).
        min_dims (float): warn when the teacher-side outputs of an adapter with 4 or more
            channels have fewer effective dimensions than this (default 1.5).
    """

    priority = 'NORMAL'  # before LoggerHook (BELOW_NORMAL): logged at the same iteration

    def __init__(self, interval: int = 1, ref_iters: int = 100, collapse_ratio: float = 0.01,
                 min_active: float = 0.05, min_dims: float = 1.5) -> None:
        for name, value in (('interval', interval), ('ref_iters', ref_iters)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f'DistillStatsHook.{name} must be an integer >= 1, got '
                                 f'{value!r}')
        for name, value in (('collapse_ratio', collapse_ratio), ('min_active', min_active)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f'DistillStatsHook.{name} must be in [0, 1), got {value!r}')
        self.interval, self.ref_iters = interval, ref_iters
        self.collapse_ratio, self.min_active = collapse_ratio, min_active
        if not min_dims >= 0:
            raise ValueError(f'DistillStatsHook.min_dims must be >= 0, got {min_dims!r}')
        self.min_dims = min_dims
        self._ref_sums: Dict[str, list] = {}  # key -> [sum, count] over the first ref_iters
        self._warned = set()

    @staticmethod
    def _losses(runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        return getattr(model, 'distill_losses', None) or {}

    def _logging(self, runner) -> bool:
        return self.every_n_train_iters(runner, self.interval) or runner.iter == 0

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        measure = self._logging(runner)
        for module in self._losses(runner).values():
            if hasattr(module, 'measure_outputs'):
                module.measure_outputs = measure

    def _reference(self, key: str, value: float, it: int) -> Optional[float]:
        """Accumulate ``value`` while ``it < ref_iters``; afterwards return the mean."""
        acc = self._ref_sums.setdefault(key, [0.0, 0])
        if it < self.ref_iters:
            acc[0] += value
            acc[1] += 1
            return None
        return acc[0] / acc[1] if acc[1] and acc[0] > 0 else None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the early-loss references (and the warnings given) in the checkpoint, so a
        resumed run goes on logging the same ratios."""
        checkpoint.setdefault('meta', {})['distill_stats_hook'] = dict(
            ref_sums={k: list(v) for k, v in self._ref_sums.items()},
            warned=sorted(self._warned))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('meta', {}).get('distill_stats_hook')
        if state is None:
            print_log('DistillStatsHook: the checkpoint has no early-loss references (saved '
                      'before they were stored); loss ratios are logged again only for runs '
                      f'resumed before iteration {self.ref_iters}', logger='current', level=30)
            return
        self._ref_sums = {k: list(v) for k, v in state['ref_sums'].items()}
        self._warned = set(state['warned'])

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            print_log(message, logger='current', level=30)  # WARNING

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        losses = self._losses(runner)
        if not losses:
            return
        it, hub = runner.iter, runner.message_hub
        outputs = outputs or {}
        det = [_scalar(v) for k, v in outputs.items()
               if k.startswith('loss_') and not k.startswith(KD_PREFIX)]
        det_ratio = None
        if det:
            ref = self._reference('det', sum(det), it)
            det_ratio = sum(det) / ref if ref else None
        logging = self._logging(runner)
        if logging and det_ratio is not None:
            hub.update_scalar('train/kd_detection_ratio', det_ratio)
        for index, (name, module) in enumerate(losses.items()):
            key = f'model.distill_cfg[{index}].loss'
            stats = {}
            if KD_PREFIX + name in outputs:
                kd = _scalar(outputs[KD_PREFIX + name])
                ref = self._reference(name, kd, it)
                if ref:
                    stats['loss_ratio'] = kd / ref
                    if stats['loss_ratio'] < self.collapse_ratio and (
                            det_ratio is None or det_ratio >= self.collapse_ratio):
                        self._warn(name, (
                            f'DistillStatsHook: the KD loss of tap {name!r} ({key}) is '
                            f'{stats["loss_ratio"]:.2%} of its mean over the first '
                            f'{self.ref_iters} iterations while the detection loss is not: '
                            f'the adapters have reached the trivial zero and the student no '
                            f'longer learns from the teacher. Use a teacher side that cannot '
                            f"collapse ({key}.teacher_projection='edge', or "
                            f'{key}.teacher_adapter_trainable=False)'))
            if not logging:
                continue
            stats.update(getattr(module, 'last_output_stats', None) or {})
            stats.update(bn_stats(module))
            for side in ('t', 's'):
                active = stats.get(f'out_active_{side}')
                if active is not None and active < self.min_active:
                    which = 'teacher' if side == 't' else 'student'
                    self._warn(f'{name}_{side}', (
                        f'DistillStatsHook: only {active:.2%} of the {which}-side adapter '
                        f'outputs of tap {name!r} ({key}) are non-zero: its units are dead '
                        f'(BN shift / scale = {stats.get("bg_" + side, float("nan")):.2f})'))
            dims, width = stats.get('out_dims_t'), getattr(module, 'adapter_channels', 0)
            if dims is not None and width >= 4 and dims < self.min_dims:
                self._warn(f'{name}_dims', (
                    f'DistillStatsHook: the teacher-side outputs of tap {name!r} ({key}) carry '
                    f'{dims:.2f} effective dimensions of {width}: its channels copy one '
                    f'direction (a trainable teacher projection aligned with what the student '
                    f'already predicts); freeze it ({key}.teacher_adapter_trainable=False)'))
            for stat, value in stats.items():
                hub.update_scalar(f'train/kd_{name}_{stat}', value)
