"""Paired-seed statistics of a distillation gain.

For seeds ``s = 1..n`` the student-only run ``a_s`` and the distilled run ``b_s`` share the
student's initialisation and the data order, so their difference ``d_s = b_s - a_s`` cancels
what the seed does to both. The gain is reported as the mean of ``d_s`` with a Student-t 95 %
confidence interval::

    mean(d) +- t_{0.975, n-1} * sd(d) / sqrt(n)        (sd with n - 1 degrees of freedom)

and the fraction of the teacher-student gap it closes::

    gap_closed = (mean(b) - mean(a)) / (teacher - mean(a))
"""
from __future__ import annotations

import math
import statistics
from typing import Dict, List, Optional, Sequence

from scipy.stats import t as student_t

__all__ = ['paired_gain', 'mean_ci', 'gap_closed', 't_quantile']


def t_quantile(p: float, dof: int) -> float:
    """Quantile ``p`` of Student's t with ``dof`` degrees of freedom (scipy)."""
    if dof < 1:
        raise ValueError(f'need at least 1 degree of freedom, got {dof}')
    return float(student_t.ppf(p, dof))


def paired_gain(student: Sequence[float], distilled: Sequence[float],
                seeds: Optional[Sequence[int]] = None, level: float = 0.95) -> Dict:
    """Mean paired difference ``distilled - student`` with a Student-t confidence interval.

    Args:
        student, distilled: one value per seed, in the same seed order (same length).
        seeds: the seeds, stored in the result.
        level: two-sided confidence level.

    Returns:
        dict: ``mean``, ``ci95`` ([lo, hi]; ``[nan, nan]`` for fewer than 2 pairs), ``sd``
        (of the differences), ``n``, ``t`` (quantile used), ``diffs`` (per seed) and
        ``seeds``.

    Raises:
        ValueError: if the lengths differ or a value is not finite.
    """
    if len(student) != len(distilled):
        raise ValueError(f'paired values need equal lengths, got {len(student)} student and '
                         f'{len(distilled)} distilled values')
    if seeds is not None and len(seeds) != len(student):
        raise ValueError(f'{len(seeds)} seeds for {len(student)} pairs')
    vals = [float(v) for v in list(student) + list(distilled)]
    if not all(math.isfinite(v) for v in vals):
        raise ValueError(f'paired values must be finite, got {vals}')
    diffs: List[float] = [float(b) - float(a) for a, b in zip(student, distilled)]
    return dict(mean_ci(diffs, level), diffs=diffs, seeds=list(seeds or []))


def mean_ci(values: Sequence[float], level: float = 0.95) -> Dict:
    """Mean of ``values`` with a two-sided Student-t interval: ``mean``, ``ci95`` ([lo, hi];
    ``[nan, nan]`` for fewer than 2 values), ``sd``, ``n`` and ``t`` (the quantile used)."""
    n = len(values)
    mean = statistics.fmean(values) if n else math.nan
    if n < 2:
        return dict(mean=mean, ci95=[math.nan, math.nan], sd=math.nan, n=n, t=math.nan)
    sd = statistics.stdev(values)
    t = t_quantile(0.5 + level / 2, n - 1)
    half = t * sd / math.sqrt(n)
    return dict(mean=mean, ci95=[mean - half, mean + half], sd=sd, n=n, t=t)


def gap_closed(student: Sequence[float], distilled: Sequence[float], teacher: float) -> float:
    """``(mean(distilled) - mean(student)) / (teacher - mean(student))``; nan without values
    or without a gap to close: where the student alone is at or above the teacher the ratio
    would flip sign (a distilled student 3 points below such a student would read as
    closing the "gap" nine times over)."""
    if not student or not distilled:
        return math.nan
    s = statistics.fmean(student)
    gap = float(teacher) - s
    if gap <= 0:
        return math.nan
    return (statistics.fmean(distilled) - s) / gap
