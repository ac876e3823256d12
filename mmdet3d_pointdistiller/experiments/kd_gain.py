"""The paired-seed KD-gain record (``benchmarks/kd_gain_sim.{md,json}``): per-run results and
paired statistics (the markdown report and pictures: :mod:`.kd_gain_report`).

Layout of the JSON (every summary is recomputable from the per-run values it holds)::

    teacher:  {config, checkpoint, sha256, map_3d, map_bev, car_3d_moderate, car_bev_moderate}
    metric, val_frames, train_frames, data_seed, budget {iters, batch_size[, evals]}
    ratios:
      "16x":
        methods:  {name: config}             seeds: [...]          command, wall_time_s
        runs:     {name: {seed: {map_3d, map_bev, car_3d_moderate, car_bev_moderate, ap,
                                 config_hash, options, seconds, kd[, curve]}}}
                  (curve: [{iter, map_3d, map_bev, car_3d_moderate, car_bev_moderate}] of
                  every validation, for budgets with ``evals`` > 1)
        student / pointdistiller / <method>: [moderate 3D mAP per seed of `seeds`, null if
                                              not finished]
        headline:     the headline arm: ``default`` (reporting protocol) or ``pointdistiller``
        paired_gain:  (headline - student) {mean, ci95, seeds, diffs, sd, n, t}
        gap_closed:   (headline)
        arms:     {method: {paired_gain, paired_gain_bev, paired_gain_car_3d,
                            paired_gain_class {view: {class: ...}}, gap_closed,
                            vs_<headline>}}
        missing:  ["<method> seed <s>", ...]
    command, wall_time_s   (all ratios; the per-ratio ones are under ratios)
"""
from __future__ import annotations

import math
import statistics
from typing import Dict, List, Optional, Sequence

from mmdet3d_pointdistiller.quickstart.metrics import (CLASSES, extract_ap40, final_val_metrics,
                                                       moderate_summary, val_curve)
from mmdet3d_pointdistiller.utils.paired_stats import gap_closed, paired_gain
from mmdet3d_pointdistiller.utils.scalars import read_scalars

__all__ = ['METRIC', 'HEADLINE_ARMS', 'run_result', 'summarise_ratio', 'kd_diagnostics',
           'compare_records', 'difference_spread', 'curve_gains']

METRIC = ('KittiMetric AP40 moderate mAP (3D, official IoU 0.7 / 0.5 / 0.5), mean over Car / '
          'Pedestrian / Cyclist, simulated val split, %')


def run_result(work_dir: str, iters: int, curve: bool = False) -> dict:
    """The final-validation numbers of one finished training run; with ``curve`` also its
    learning curve (every validation, :func:`~.metrics.val_curve`) under ``curve``."""
    ap = extract_ap40(final_val_metrics(work_dir, step=iters))
    out = dict(moderate_summary(ap), ap=ap)
    if curve:
        out['curve'] = val_curve(work_dir)
    return out


def kd_diagnostics(work_dir: str, ckpt: Optional[str] = None, tail: int = 10) -> Optional[dict]:
    """KD loss at the first and last log lines, the final detection loss, and the logged
    adapter statistics / effective number of weighted queries (``DistillStatsHook``) at the
    end (mean of the last ``tail`` log records). None for runs without ``loss_pd_*``."""
    train = [r for r in read_scalars(work_dir) if 'iter' in r and 'loss' in r]
    kd = [r for r in train if any(k.startswith('loss_pd_') or k.startswith('loss_kd')
                                  for k in r)]
    if not kd:
        return None

    def kd_sum(r):
        return sum(v for k, v in r.items() if k.startswith(('loss_pd_', 'loss_kd')))

    def det(r):
        return sum(v for k, v in r.items() if k.startswith('loss_') and not
                   k.startswith(('loss_pd_', 'loss_kd')))
    out = dict(kd_loss_first=kd_sum(kd[0]), kd_loss_last=kd_sum(kd[-1]),
               first_iter=kd[0]['iter'], det_loss_last=det(train[-1]),
               kd_loss_curve=[[r['iter'], kd_sum(r)] for r in kd])
    last = kd[-tail:]
    for key in sorted({k for r in last for k in r if k.startswith('kd_')}):
        vals = [r[key] for r in last if key in r]
        out[key[len('kd_'):]] = statistics.fmean(vals)
    return out


def _values(runs: Dict[str, dict], seeds: Sequence[int], key: str) -> List[Optional[float]]:
    return [runs[str(s)][key] if str(s) in runs else None for s in seeds]


def _class_gains(ref: Dict[str, dict], runs: Dict[str, dict],
                 seeds: Sequence[int]) -> Optional[dict]:
    """``{view: {class: paired_gain}}`` of the moderate AP40 of each class, 3D and BEV; None
    if a run has no per-class table (``ap``)."""
    if not all('ap' in r[str(s)] for r in (ref, runs) for s in seeds):
        return None
    return {view: {c: paired_gain([ref[str(s)]['ap'][view][c]['moderate'] for s in seeds],
                                  [runs[str(s)]['ap'][view][c]['moderate'] for s in seeds],
                                  seeds=seeds)
                   for c in CLASSES} for view in ('3D', 'BEV')}


#: a record's headline arm (``paired_gain``, ``gap_closed``, others' ``vs_<arm>``): the first found
HEADLINE_ARMS = ('default', 'pointdistiller')  # the reporting protocol's; the older records'


def summarise_ratio(entry: dict, teacher_map: float, reference: str = 'student',
                    kd_name: Optional[str] = None) -> dict:
    """Fill the per-method value lists, paired gains, gap closed and missing runs of one
    ratio entry (``methods``, ``seeds``, ``runs`` given); returns the entry. ``kd_name``: the
    headline arm, by default the first of :data:`HEADLINE_ARMS` among the methods."""
    if kd_name is None:
        kd_name = next((m for m in HEADLINE_ARMS if m in entry['methods']), HEADLINE_ARMS[-1])
    seeds = entry['seeds']
    runs = entry['runs']
    entry['missing'] = [f'{m} seed {s}' for s in seeds for m in entry['methods']
                        if str(s) not in runs.get(m, {})]
    for m in entry['methods']:
        entry[m] = _values(runs.get(m, {}), seeds, 'map_3d')
    arms = {}
    ref_runs = runs.get(reference, {})
    for m in entry['methods']:
        if m == reference:
            continue
        mr = runs.get(m, {})
        both = [s for s in seeds if str(s) in ref_runs and str(s) in mr]
        a = [ref_runs[str(s)]['map_3d'] for s in both]
        b = [mr[str(s)]['map_3d'] for s in both]
        arm = dict(paired_gain=paired_gain(a, b, seeds=both),
                   paired_gain_bev=paired_gain([ref_runs[str(s)]['map_bev'] for s in both],
                                               [mr[str(s)]['map_bev'] for s in both],
                                               seeds=both),
                   paired_gain_car_3d=paired_gain(
                       [ref_runs[str(s)]['car_3d_moderate'] for s in both],
                       [mr[str(s)]['car_3d_moderate'] for s in both], seeds=both),
                   paired_gain_class=_class_gains(ref_runs, mr, both),
                   gap_closed=gap_closed(a, b, teacher_map))
        kd_runs = runs.get(kd_name, {})
        if m != kd_name and kd_runs:
            common = [s for s in seeds if str(s) in kd_runs and str(s) in mr]
            arm['vs_' + kd_name] = paired_gain([kd_runs[str(s)]['map_3d'] for s in common],
                                               [mr[str(s)]['map_3d'] for s in common],
                                               seeds=common)
        arms[m] = arm
    entry['arms'] = arms
    if kd_name in arms:
        entry['headline'] = kd_name
        entry['paired_gain'] = arms[kd_name]['paired_gain']
        entry['gap_closed'] = arms[kd_name]['gap_closed']
    return entry


def curve_gains(entry: dict, arm: str, reference: str = 'student') -> Dict[int, dict]:
    """``{iteration: paired_gain}`` of one arm's validation 3D mAP over the reference's at every
    validated iteration, on the seeds where both runs have that validation (a run interrupted
    during a validation and resumed from that iteration's checkpoint lacks it). Descriptive:
    several looks at one set of runs, not a protocol's primary metric. Empty without curves."""
    ref, runs = entry['runs'].get(reference, {}), entry['runs'].get(arm, {})

    def by_iter(run: dict) -> Dict[int, float]:
        return {c['iter']: c['map_3d'] for c in run.get('curve', [])}
    pairs = [(s, by_iter(ref[str(s)]), by_iter(runs[str(s)])) for s in entry['seeds']
             if str(s) in ref and str(s) in runs]
    iters = sorted({i for _, a, b in pairs for i in a if i in b})
    out = {}
    for i in iters:
        both = [(s, a[i], b[i]) for s, a, b in pairs if i in a and i in b]
        out[i] = paired_gain([x for _, x, _ in both], [y for _, _, y in both],
                             seeds=[s for s, _, _ in both])
    return out


def difference_spread(entry: dict, arm: str, reference: str = 'student',
                      last: Sequence[int] = (2, 3)) -> Optional[dict]:
    """Where the seed-to-seed spread of one arm's paired 3D differences comes from: a
    descriptive look at the finished runs of a ratio entry, computed after the fact (no decision
    of a protocol uses it). On the seeds where both runs finished:

    * ``sd``: the sd of the per-seed differences of the final 3D mAP (the interval's);
    * ``sd_last``: ``{k: sd}`` when each run is summarised by the mean of its last ``k``
      validations instead (if that shrinks the spread, much of it is the end point's jitter,
      which weight averaging would remove; if not, the runs end in different places); only
      for the ``k`` that every one of those runs has validations for;
    * ``class_sd``: ``{class: sd / 3}`` of the per-class moderate 3D AP differences, each
      class's share of the mAP's scale (the mAP difference is their mean; shares do not add
      up, the classes covary);
    * ``corr``: the Pearson correlation over seeds of the reference's and the arm's final 3D
      mAP (the pairing removes variance only where it is positive), with ``sd_ref`` and
      ``sd_arm``, the two arms' own seed sds.

    None when fewer than 3 seeds have both runs (an sd of two values says nothing of where it
    comes from)."""
    ref, runs = entry['runs'].get(reference, {}), entry['runs'].get(arm, {})
    seeds = [s for s in entry['seeds'] if str(s) in ref and str(s) in runs]
    if len(seeds) < 3:
        return None
    a = [ref[str(s)] for s in seeds]
    b = [runs[str(s)] for s in seeds]
    xa, yb = [x['map_3d'] for x in a], [y['map_3d'] for y in b]
    out = dict(seeds=seeds, sd=statistics.stdev(y - x for x, y in zip(xa, yb)),
               sd_ref=statistics.stdev(xa),
               sd_arm=statistics.stdev(yb), sd_last={}, class_sd={})
    # undefined (nan) when an arm gave the same value on every seed
    out['corr'] = statistics.correlation(xa, yb) if out['sd_ref'] and out['sd_arm'] \
        else math.nan
    for k in last:
        if all(len(r.get('curve', [])) >= k for r in a + b):
            out['sd_last'][k] = statistics.stdev(
                statistics.fmean(c['map_3d'] for c in y['curve'][-k:])
                - statistics.fmean(c['map_3d'] for c in x['curve'][-k:]) for x, y in zip(a, b))
    if all('ap' in r for r in a + b):
        for c in CLASSES:
            out['class_sd'][c] = statistics.stdev(
                y['ap']['3D'][c]['moderate'] - x['ap']['3D'][c]['moderate']
                for x, y in zip(a, b)) / len(CLASSES)
    return out


def compare_records(rec_a: dict, rec_b: dict, ratio: str, method: str) -> dict:
    """Paired difference ``b - a`` of one method's runs in two paired-seed records, on the
    seeds both have: e.g. the same KD config distilled from two teachers. For a seed both runs
    start from the same student weights and see the same data order (the pairing of
    tests/test_paired_runs.py does not depend on the teacher), so the per-seed difference
    removes the seed's own luck just as a KD gain does.

    Returns:
        dict: ``{'map_3d' | 'map_bev' | 'car_3d_moderate': paired_gain}``, plus ``seeds`` and
        ``teachers`` (the two records' teacher checkpoints).

    Raises:
        ValueError: naming what differs (budget, val frames, the method's config) or is
            missing (ratio, method, shared seeds).
    """
    for name, rec in (('A', rec_a), ('B', rec_b)):
        if ratio not in rec.get('ratios', {}):
            raise ValueError(f'record {name} has no ratio {ratio!r} '
                             f'(it has {sorted(rec.get("ratios", {}))})')
        if method not in rec['ratios'][ratio]['methods']:
            raise ValueError(f'record {name} has no method {method!r} at {ratio} (it has '
                             f'{sorted(rec["ratios"][ratio]["methods"])})')
    for key in ('budget', 'val_frames', 'train_frames'):
        if rec_a.get(key) != rec_b.get(key):
            raise ValueError(f'the records differ in {key}: {rec_a.get(key)} vs {rec_b.get(key)}')
    ea, eb = rec_a['ratios'][ratio], rec_b['ratios'][ratio]
    if ea['methods'][method] != eb['methods'][method]:
        raise ValueError(f'{method} is a different config in the two records: '
                         f"{ea['methods'][method]} vs {eb['methods'][method]}")
    ra, rb = ea['runs'].get(method, {}), eb['runs'].get(method, {})
    seeds = sorted(int(s) for s in set(ra) & set(rb))
    if not seeds:
        raise ValueError(f'no seed has a finished {method} run at {ratio} in both records')
    out = {key: paired_gain(_values(ra, seeds, key), _values(rb, seeds, key), seeds=seeds)
           for key in ('map_3d', 'map_bev', 'car_3d_moderate')}
    out.update(seeds=seeds, teachers=[rec_a['teacher']['checkpoint'],
                                      rec_b['teacher']['checkpoint']])
    return out
