"""The paired-seed KD gains of a KD-gain record beside the paper's KITTI ordering of the methods.

The paper ranks the seven earlier KD methods against PointDistiller (Table 3) and ablates local
distillation (LD) and reweighted learning (RL) (Table 5), all on the KITTI PointPillars 4x
student. A KD-gain record (``benchmarks/kd_gain_sim.json`` layout, e.g.
``benchmarks/kd_methods_sim.json``) holds, per student ratio, every method's paired gain over
the student-only run on the same seeds. This module lines the two up:

* paper gain = method's 3D mAP - the student's 3D mAP of the same table (moderate, AP40);
* measured gain = the record's paired 3D gain (mean over seeds, Student-t 95 % CI);
* ranks by gain, descending, ties sharing the best rank; Kendall's tau-b between the two gains
  over the methods that have at least one paired seed;
* a Bonferroni-adjusted interval per method, because with m intervals about 0.05 m exclude 0
  by chance alone.

The simulated dataset is not KITTI: the comparison is of orderings, never of values.
Used by ``tools/reproduce_table.py --record``.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

from scipy.stats import kendalltau

from mmdet3d_pointdistiller.paper_results import paper_table
from mmdet3d_pointdistiller.experiments.kd_gain_report import format_interval
from mmdet3d_pointdistiller.utils.paired_stats import mean_ci

__all__ = ['PAPER_METHODS', 'paper_gains', 'ordering_rows', 'kendall_tau', 'family_wise',
           'ordering_markdown']

# (paper table, row key) of every distillation method the paper reports for PointPillars 4x;
# Table 5's "LD ✓, RL ✓" row is PointDistiller itself (Table 3's last row).
PAPER_METHODS = ((3, 'fitnets'), (3, 'attention-transfer'), (3, 'se-ssd'),
                 (3, 'similarity-preserving'), (3, 'crd'), (3, 'overhaul'),
                 (3, 'attention-nonlocal'), (3, 'pointdistiller'), (5, 'ld-only'),
                 (5, 'rl-only'))


def paper_gains() -> Dict[str, dict]:
    """``{key: {table, label, map_3d, gain_3d, map_bev, gain_bev}}`` in :data:`PAPER_METHODS`
    order; gains against the student row of the same table."""
    out: Dict[str, dict] = {}
    for table, key in PAPER_METHODS:
        rows = {r['key']: r for r in paper_table(table)['rows']}
        row, student = rows[key], rows['student']
        out[key] = dict(table=table, label=row['label'])
        for task, name in (('d3', '3d'), ('bev', 'bev')):
            value = row['values'][task]['mAP']
            out[key][f'map_{name}'] = value
            out[key][f'gain_{name}'] = round(value - student['values'][task]['mAP'], 6)
    return out


def _ranks(values: Sequence[Optional[float]]) -> List[Optional[int]]:
    """Competition ranks (1 = largest; equal values share the best rank); None stays None."""
    present = [v for v in values if v is not None]
    return [None if v is None else 1 + sum(1 for w in present if w > v + 1e-9) for v in values]


def ordering_rows(record: dict, ratio: str) -> List[dict]:
    """One row per paper method: paper gain and rank, measured paired gain, CI and rank.

    Args:
        record: a KD-gain record (``ratios -> ratio -> arms -> method -> paired_gain``).
        ratio: the student ratio entry to read, e.g. ``'16x'``.

    Returns:
        list of dict with ``key, label, table, paper_map_3d, paper_gain_3d, paper_rank, n,
        gain_3d, ci95, gain_bev, ci95_bev, diffs, rank`` (measured fields None / 0 / [] where
        the record has no paired seed of that method; ``diffs``: per-seed 3D differences).

    Raises:
        ValueError: if the record has no such ratio (the message lists the ratios it has).
    """
    ratios = record.get('ratios', {})
    if ratio not in ratios:
        raise ValueError(f'the record has no ratio {ratio!r}; it has {sorted(ratios)}')
    arms = ratios[ratio].get('arms', {})
    rows = []
    for key, paper in paper_gains().items():
        g = arms.get(key, {}).get('paired_gain')
        gb = arms.get(key, {}).get('paired_gain_bev')
        n = g['n'] if g else 0
        rows.append(dict(key=key, label=paper['label'], table=paper['table'],
                         paper_map_3d=paper['map_3d'], paper_gain_3d=paper['gain_3d'], n=n,
                         gain_3d=g['mean'] if n else None, ci95=g['ci95'] if n else None,
                         gain_bev=gb['mean'] if n else None,
                         ci95_bev=gb['ci95'] if n else None,
                         diffs=list(g['diffs']) if n else []))
    for rank_key, value_key in (('paper_rank', 'paper_gain_3d'), ('rank', 'gain_3d')):
        for row, rank in zip(rows, _ranks([r[value_key] for r in rows])):
            row[rank_key] = rank
    return rows


def kendall_tau(rows: Sequence[dict]) -> Optional[dict]:
    """Kendall's tau-b (scipy) between paper and measured 3D gains over the rows with a paired
    seed: ``{tau, p, m}`` (m methods), or None for fewer than 3 such rows."""
    both = [(r['paper_gain_3d'], r['gain_3d']) for r in rows if r['n'] > 0]
    if len(both) < 3:
        return None
    res = kendalltau([a for a, _ in both], [b for _, b in both])
    return dict(tau=float(res.statistic), p=float(res.pvalue), m=len(both))


def _f(v: Optional[float], sign: bool = False, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return '–'
    return f'{v:+.{digits}f}' if sign else f'{v:.{digits}f}'


def _interval(row: dict, mean_key: str, ci_key: str) -> str:
    if not row['n']:
        return 'not run'
    return format_interval(dict(mean=row[mean_key], ci95=row[ci_key], n=row['n']))


def _excludes_zero(ci: Sequence[float]) -> bool:
    return ci[0] > 0 or ci[1] < 0


def family_wise(rows: Sequence[dict], alpha: float = 0.05) -> Optional[dict]:
    """Bonferroni-adjusted 3D-gain intervals over the ``m`` rows with at least 2 paired seeds:
    each at level ``1 - alpha / m``, so that all ``m`` hold together with probability at
    least ``1 - alpha``. Returns ``{m, level, expected_false, intervals: {key: mean_ci}}``
    (``expected_false = alpha * m``: the 95 % intervals expected to exclude 0 by chance if
    no method had an effect), or None for fewer than 2 such rows."""
    tested = [r for r in rows if r['n'] >= 2]
    if len(tested) < 2:
        return None
    level = 1.0 - alpha / len(tested)
    return dict(m=len(tested), level=level, expected_false=alpha * len(tested),
                intervals={r['key']: mean_ci(r['diffs'], level) for r in tested})


def family_wise_lines(rows: Sequence[dict]) -> List[str]:
    """Markdown lines on the multiple comparison (:func:`family_wise`); empty when fewer than
    2 methods have an interval."""
    fw = family_wise(rows)
    if fw is None:
        return []
    excl = [k for k, g in fw['intervals'].items() if _excludes_zero(g['ci95'])]
    # the adjusted intervals of the methods whose unadjusted 95 % interval excluded 0
    was = ', '.join(f"{r['key']} {format_interval(fw['intervals'][r['key']], verdict=False)}"
                    for r in rows if r['key'] in fw['intervals'] and _excludes_zero(r['ci95']))
    return ['', f"Multiple comparisons: {fw['m']} methods have a 95 % interval, so about "
                f"{fw['expected_false']:.1f} of them would exclude 0 by chance if no method had "
                f"any effect. Bonferroni-adjusted (each interval at {100 * fw['level']:.2f} %, "
                f"all {fw['m']} together at >= 95 %), the methods that still exclude 0: "
                + (', '.join(excl) if excl else 'none')
                + (f" (adjusted: {was})" if was else '') + '.']


def ordering_markdown(record: dict, ratio: str, source: str = '') -> str:
    """The ordering table of :func:`ordering_rows` with Kendall's tau-b and its caveats."""
    rows = ordering_rows(record, ratio)
    entry = record['ratios'][ratio]
    others = sorted(set(entry.get('arms', {})) - {r['key'] for r in rows})
    seeds = entry.get('seeds', [])
    lines = [f'# KD methods on the simulated dataset ({ratio} student) beside the paper\'s '
             'KITTI ordering', '',
             f"Measured: paired 3D / BEV moderate-mAP gain over the student-only run "
             f"(seeds {', '.join(map(str, seeds))}; Student-t 95 % CI) from "
             f"`{source or 'the record'}`. Paper: KITTI val, PointPillars 4x student, 3D "
             'moderate mAP (AP40) and its gain over the same table\'s student (Tables 3 and '
             '5). Ranks by gain, 1 = best; equal gains share a rank. The simulated dataset is '
             'not KITTI: compare orderings, never values.', '',
             '| method | paper table | paper 3D mAP | paper gain | paper rank | measured 3D '
             'gain [95 % CI] | measured BEV gain [95 % CI] | measured rank |',
             '|---|---|---|---|---|---|---|---|']
    for r in sorted(rows, key=lambda r: (r['paper_rank'], r['key'])):
        lines.append(f"| {r['key']} | {r['table']} | {_f(r['paper_map_3d'], digits=1)} | "
                     f"{_f(r['paper_gain_3d'], True, 1)} | {r['paper_rank']} | "
                     f"{_interval(r, 'gain_3d', 'ci95')} | "
                     f"{_interval(r, 'gain_bev', 'ci95_bev')} | {r['rank'] or '–'} |")
    tau = kendall_tau(rows)
    lines.append('')
    if tau is None:
        lines.append('Kendall\'s tau-b: needs at least 3 methods with a paired seed.')
    else:
        lines.append(f"Kendall's tau-b between paper and measured 3D gains over the {tau['m']} "
                     f"measured methods: {tau['tau']:+.2f} (p = {tau['p']:.2f}; +1 = the "
                     "paper's ordering, 0 = unrelated).")
    separated = [r['key'] for r in rows if r['n'] >= 2 and _excludes_zero(r['ci95'])]
    lines += ['', 'Methods whose 3D-gain CI excludes 0: '
              + (', '.join(separated) if separated else 'none') + '. A rank difference '
              'between methods whose intervals overlap is not evidence of an ordering.']
    lines += family_wise_lines(rows)
    missing = [r['key'] for r in rows if not r['n']]
    if missing:
        lines += ['', 'Not in the record (no paired seed): ' + ', '.join(missing) + '.']
    if others:
        lines += ['', 'In the record but not a paper row (not ranked here): '
                  + ', '.join(others) + '.']
    return '\n'.join(lines) + '\n'
