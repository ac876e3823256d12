"""What the benchmark holds the memory-bounded loss to, as ratios measured within one run.

Each target is named by the quantity it measures and its bound (e.g.
``pointpillars_4x_speedup_ge_4``); the names are the keys of a record's ``targets``.
"""
from typing import Any, Dict

#: dense time / ours time of a PointPillars-4x KD-loss case (forward + backward)
TARGET_SPEEDUP = 4.0
#: dense peak memory / ours peak memory of a PointPillars-4x KD-loss case
TARGET_MEMORY_RATIO = 4.0
#: distillation train step time / student-only train step time
TARGET_TRAIN_RATIO = 1.6
#: R^2 of the least-squares line of ours' peak memory over M (linear memory in M)
TARGET_LINEAR_R2 = 0.95
#: the KD-loss cases the speed and memory targets apply to
TARGET_CASES = ('pointpillars_4x', 'pointpillars_4x_single_graph')

__all__ = ['TARGET_CASES', 'TARGET_LINEAR_R2', 'TARGET_MEMORY_RATIO', 'TARGET_SPEEDUP',
           'TARGET_TRAIN_RATIO', 'describe_target', 'evaluate_targets']


def evaluate_targets(result: Dict) -> Dict[str, Any]:
    """Every target, evaluated on the measured ratios of ``result`` (absent measurements are
    skipped).

    Returns:
        dict: ``{name: dict(value, met)}``.
    """
    targets = {}
    for name in TARGET_CASES:
        if name in result:
            targets[f'{name}_speedup_ge_{TARGET_SPEEDUP:g}'] = dict(
                value=result[name]['speedup'], met=result[name]['speedup'] >= TARGET_SPEEDUP)
            targets[f'{name}_memory_ratio_ge_{TARGET_MEMORY_RATIO:g}'] = dict(
                value=result[name]['memory_ratio'],
                met=result[name]['memory_ratio'] >= TARGET_MEMORY_RATIO)
    if 'train_step' in result:
        ratio = result['train_step']['ratio']
        targets[f'train_step_ratio_le_{TARGET_TRAIN_RATIO:g}'] = dict(
            value=ratio, met=ratio <= TARGET_TRAIN_RATIO)
    if 'sweep' in result:
        fit = result['sweep']['m']['fit_ours']
        targets[f'ours_peak_linear_in_m_r2_ge_{TARGET_LINEAR_R2:g}'] = dict(
            value=fit['r2'], met=fit['r2'] >= TARGET_LINEAR_R2)
    return targets


def describe_target(name: str) -> str:
    """What the target ``name`` (a key of :func:`evaluate_targets`) measures, in words."""
    for case in TARGET_CASES:
        if name.startswith(f'{case}_speedup_ge_'):
            return f'`{case}`: KD loss forward + backward time, dense / ours'
        if name.startswith(f'{case}_memory_ratio_ge_'):
            return f'`{case}`: KD loss peak memory, dense / ours'
    if name.startswith('train_step_ratio_le_'):
        return 'training step time, distillation / student only'
    if name.startswith('ours_peak_linear_in_m_r2_ge_'):
        return 'R^2 of a line fitted to ours\' peak memory over M (memory linear in M)'
    return ''
