"""The reporting protocol's seed-extension rule as code (``benchmarks/protocols/kd_gain_sim.md``,
amendment 1): after the first seeds, seeds are added while the half-width of the headline
arm's 95 % interval exceeds a target, up to a maximum number of seeds.

Which seeds are certain
    With n paired differences d_1..d_n, mean m and SS = sum_i (d_i - m)^2, the Student-t
    interval's half-width is

        h(n) = t(0.975, n - 1) * sqrt(SS / (n - 1)) / sqrt(n).

    Adding a difference x raises SS by n / (n + 1) * (x - m)^2 >= 0, so whatever the next
    seeds give, the sum of squares at n' > n seeds is at least SS(n) and

        h(n') >= b(n') = t(0.975, n' - 1) * sqrt(SS(n) / (n' - 1)) / sqrt(n').

    The rule runs seed n' + 1 whenever h(n') exceeds the target, so it certainly runs it when
    b(n') does. :func:`certain_seed_count` walks n' = n, n + 1, ... while b(n') > target (and
    n' < the maximum): every seed up to the first n' where the bound no longer decides is
    certain, and training them together changes when they finish, not which seeds run or
    what is analysed. At n' = n the bound is the observed half-width itself, so a finished
    interval within the target adds nothing.

Used by :func:`~mmdet3d_pointdistiller.experiments.kd_gain_runs.run_extended`
(``tools/benchmark_kd_gain.py --until-half-width 2.0 --max-seeds 10``).
"""
from __future__ import annotations

import math
from typing import List, Sequence

from ..utils.paired_stats import t_quantile

__all__ = ['half_width_bound', 'certain_seed_count', 'extension_seeds']


def half_width_bound(sum_sq: float, n: int) -> float:
    """Smallest possible 95 % half-width over ``n`` differences whose sum of squares about
    their mean is at least ``sum_sq`` (``n >= 2``)."""
    if n < 2:
        raise ValueError(f'a half-width needs n >= 2 differences, got {n}')
    return t_quantile(0.975, n - 1) * math.sqrt(sum_sq / (n - 1)) / math.sqrt(n)


def certain_seed_count(diffs: Sequence[float], target: float, max_seeds: int) -> int:
    """The number of seeds the rule will run at least, given the finished ``diffs``.

    Args:
        diffs: the headline arm's paired differences of the finished seeds (at least 2).
        target: the half-width the rule stops at (the protocol: 2.0 mAP).
        max_seeds: the most seeds the rule runs (the protocol: 10).

    Returns:
        int: ``len(diffs)`` when the observed interval is within ``target`` (or the maximum
        is reached), else the count up to the last seed that is certain to run.
    """
    n = len(diffs)
    if n < 2:
        raise ValueError(f'the seed extension needs the differences of >= 2 seeds, got {n}')
    if target <= 0:
        raise ValueError(f'the half-width target must be positive, got {target}')
    mean = sum(diffs) / n
    sum_sq = sum((d - mean) ** 2 for d in diffs)
    count = n
    while count < max_seeds and half_width_bound(sum_sq, count) > target:
        count += 1
    return count


def extension_seeds(seeds: Sequence[int], diffs: Sequence[float], target: float,
                    max_seeds: int) -> List[int]:
    """The seeds to add now: the next integers after ``max(seeds)`` up to
    :func:`certain_seed_count` (empty when the rule stops)."""
    if len(diffs) != len(seeds):
        raise ValueError(f'{len(seeds)} seeds but {len(diffs)} paired differences: the '
                         'extension decides on complete seeds only')
    more = certain_seed_count(diffs, target, max_seeds) - len(seeds)
    return list(range(max(seeds) + 1, max(seeds) + 1 + more))
