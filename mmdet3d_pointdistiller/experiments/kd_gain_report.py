"""The report of a paired-seed KD-gain record (:mod:`.kd_gain`): the markdown
``<out>.md`` (tables of runs, paired gains with 95 % intervals, per-class gains, learning
curves, measured KD diagnostics) and its pictures (``<out>.png`` KD-loss curves,
``<out>_gains.png`` per-seed paired gains, ``<out>_curves.png`` learning curves), and the
interval formatting the README blocks share."""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Callable, List, Optional

import matplotlib
import matplotlib.pyplot as plt

from mmdet3d_pointdistiller.quickstart.metrics import CLASSES

from .kd_gain import HEADLINE_ARMS, curve_gains, difference_spread
from .protocol import status_text

__all__ = ['format_interval', 'render_markdown', 'plot_learning_curves', 'plot_kd_curves',
           'plot_paired_gains', 'write_report']


def _f(v, digits=2, sign=False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return '–'
    return f'{v:+.{digits}f}' if sign else f'{v:.{digits}f}'


def format_interval(g: dict, verdict: bool = True) -> str:
    """``mean [lo, hi] (n = N, above 0 | below 0 | contains 0)`` of a :func:`paired_gain` /
    ``mean_ci`` dict; ``mean (n = N, no interval)`` for fewer than 2 values. ``verdict=False``
    leaves out the bracketed ``(n = ..)`` part."""
    lo, hi = g['ci95']
    if not verdict:
        return _f(g['mean'], sign=True) + (
            f" [{_f(lo, sign=True)}, {_f(hi, sign=True)}]" if g['n'] >= 2 else '')
    if g['n'] < 2:
        return f"{_f(g['mean'], sign=True)} (n = {g['n']}, no interval)"
    verdict = 'above 0' if lo > 0 else ('below 0' if hi < 0 else 'contains 0')
    return (f"{_f(g['mean'], sign=True)} [{_f(lo, sign=True)}, {_f(hi, sign=True)}] "
            f"(n = {g['n']}, {verdict})")


def render_markdown(rec: dict) -> str:
    """The human-readable report of a KD-gain record."""
    t = rec['teacher']
    lines = [f"# {rec.get('title', 'Distillation gain on the simulated KITTI-format dataset')}",
             '',
             f"Metric: {rec['metric']}; {rec['val_frames']} val frames, students trained on "
             f"{rec['train_frames']} train frames (simulator seed {rec['data_seed']}) for "
             f"{rec['budget']['iters']} iterations of batch {rec['budget']['batch_size']}"
             + (f", validated {rec['budget']['evals']} times" if rec['budget'].get('evals', 1)
                > 1 else '') + '.', '',
             f"Teacher (shared by every run, frozen): `{t['config']}` with `{t['checkpoint']}` "
             f"(sha256 `{t.get('sha256', '?')[:16]}…`): 3D mAP {_f(t['map_3d'])}, BEV mAP "
             f"{_f(t['map_bev'])}, Car moderate 3D@0.7 {_f(t['car_3d_moderate'])}, BEV@0.7 "
             f"{_f(t['car_bev_moderate'])}.", '',
             'Paired seeds: for a seed, every method\'s run starts from the same student '
             'weights and sees the same data order and augmentations (tests/'
             'test_paired_runs.py); a gain is the mean over seeds of the per-seed difference '
             'to the student-only run, with a Student-t 95 % confidence interval. Gap closed '
             '= (method − student) / (teacher − student), on the means. Tuning and reporting '
             'seeds are disjoint: arms and settings are chosen on tuning seeds (101 and up, '
             'e.g. `benchmarks/kd_gain_sim_tuning.md`), never on reporting seeds (1-99); the KD '
             'settings themselves are the KITTI config\'s, scaled to the sim grid.', '']
    if rec.get('protocol'):
        p = rec['protocol']
        lines += [f"Protocol: `{p['file']}` as committed in `{p['commit'][:10]}` "
                  f"({p['committed_at']}). " + status_text(rec.get('confirmatory', {})), '']
    for ratio, e in rec['ratios'].items():
        seeds = e['seeds']
        lines += [f'## {ratio} student', '',
                  '| method | config | ' + ' | '.join(f'seed {s}' for s in seeds)
                  + ' | mean 3D | mean BEV |', '|---|---|' + '---|' * len(seeds) + '---|---|']
        for m, cfg in e['methods'].items():
            runs = e['runs'].get(m, {})
            vals = [runs[str(s)]['map_3d'] for s in seeds if str(s) in runs]
            bev = [runs[str(s)]['map_bev'] for s in seeds if str(s) in runs]
            lines.append(f'| {m} | `{cfg}` | ' + ' | '.join(
                _f(runs[str(s)]['map_3d']) if str(s) in runs else 'missing' for s in seeds)
                + f" | {_f(statistics.fmean(vals)) if vals else '–'} | "
                  f"{_f(statistics.fmean(bev)) if bev else '–'} |")
        lines += ['', '| method − student | paired 3D gain [95 % CI] | paired BEV gain [95 % CI] | '
                      'Car 3D@0.7 gain [95 % CI] | gap closed (3D; – if student ≥ teacher) | '
                      'per-seed 3D differences |', '|---|---|---|---|---|---|']
        for m, arm in e['arms'].items():
            g = arm['paired_gain']
            lines.append(f"| {m} | {format_interval(g)} | "
                         f"{format_interval(arm['paired_gain_bev'])} | "
                         f"{format_interval(arm['paired_gain_car_3d'])} | "
                         f"{_f(arm['gap_closed'], 3)} | "
                         + ', '.join(f'{d:+.2f}' for d in g['diffs']) + ' |')
        lines += _class_table(e)
        lines += _curve_table(e)
        lines += _curve_gain_table(e)
        lines += _spread_table(e)
        head = e.get('headline', HEADLINE_ARMS[-1])
        vs = [(m, a) for m, a in e['arms'].items() if f'vs_{head}' in a]
        if vs:
            label = 'PointDistiller (default)' if head == 'pointdistiller' else head
            lines += ['', f'| arm − {label} | paired 3D difference [95 % CI] |',
                      '|---|---|']
            lines += [f"| {m} | {format_interval(a[f'vs_{head}'])} |" for m, a in vs]
        diags = [(m, s, r['kd']) for m, runs in e['runs'].items() for s, r in runs.items()
                 if r.get('kd')]
        if any(k.endswith(MEASURED_KEYS) for _, _, d in diags for k in d):
            lines += _measured_diagnostics_table(diags)
        elif diags:
            lines += ['', 'KD diagnostics (log means of the last records; γ / var: the '
                          'adapters\' mean |BN scale| and output variance; neff: effective '
                          'number of weighted queries per sample, (Σw)² / Σw²):', '',
                      '| method | seed | KD loss first → last | det. loss last | γ_T | γ_S | '
                      'var_T | var_S | neff |', '|---|---|---|---|---|---|---|---|---|']
            for m, s, d in sorted(diags, key=lambda x: (x[0], int(x[1]))):
                cells = ' | '.join(_f(d.get(k), 3) for k in (
                    'pfn_gamma_t', 'pfn_gamma_s', 'pfn_var_t', 'pfn_var_s', 'pfn_neff'))
                lines.append(f"| {m} | {s} | {_f(d['kd_loss_first'], 4)} → "
                             f"{_f(d['kd_loss_last'], 4)} | {_f(d['det_loss_last'], 3)} | "
                             f'{cells} |')
        if e['missing']:
            lines += ['', f"**Partial record**: {len(e['missing'])} run(s) not finished yet: "
                          + ', '.join(e['missing']) + '. The statistics above use the seeds '
                          'where both runs of a pair exist; re-running the command trains '
                          'only the missing runs.']
        lines += ['', f"Wall time of the runs trained for this ratio: "
                      f"{e.get('wall_time_s', 0):.0f} s ({e.get('machine', '')}; "
                      f"{e.get('threads', 1)} torch thread(s) per run, {e.get('jobs', 1)} "
                      f"run(s) at a time).", '', f"Command: `{e['command']}`", '']
    if rec.get('note'):
        lines += [rec['note'], '']
    if rec.get('gains_plot'):
        lines += [f"Paired 3D gains, per seed and mean with its 95 % CI: "
                  f"![paired gains]({rec['gains_plot']})", '']
    if rec.get('curves_plot'):
        lines += [f"Validation 3D mAP against the iteration, per run: "
                  f"![learning curves]({rec['curves_plot']})", '']
    if rec.get('plot'):
        lines += [f"KD loss curves of every distillation run: `{rec['plot']}`.", '']
    return '\n'.join(lines)


#: per-tap diagnostics logged by DistillStatsHook (measured on the batch), in table order
MEASURED_COLUMNS = (('loss_ratio', 'KD / early'), ('out_active_t', 'active_T'),
                    ('out_active_s', 'active_S'), ('out_var_t', 'var_T'),
                    ('out_var_s', 'var_S'), ('out_dims_t', 'dims_T'), ('out_dims_s', 'dims_S'),
                    ('bg_t', 'β/γ_T'), ('bg_s', 'β/γ_S'), ('neff', 'neff'))
MEASURED_KEYS = ('_out_var_t', '_loss_ratio')


def _measured_diagnostics_table(diags: List[tuple]) -> List[str]:
    """Markdown lines: one row per run and tap of the measured KD diagnostics (runs logged by
    the measuring DistillStatsHook); ``diags``: ``(method, seed, kd_diagnostics dict)``."""
    lines = ['', 'KD diagnostics, measured on the training batches (log means of the last '
                 'records; KD / early: the tap\'s KD loss over its mean in the first 100 '
                 'iterations; active: fraction of non-zero adapter outputs; var: their mean '
                 'per-channel variance; dims: effective number of independent output channels '
                 '(participation ratio of their covariance); β/γ: mean BN shift over scale; '
                 'neff: effective number '
                 'of weighted queries per sample, (Σw)² / Σw²):', '',
             '| method | seed | tap | KD loss first → last | det. loss last | det. / early | '
             + ' | '.join(label for _, label in MEASURED_COLUMNS) + ' |',
             '|---|---|---|---|---|---|' + '---|' * len(MEASURED_COLUMNS)]
    for m, s, d in sorted(diags, key=lambda x: (x[0], int(x[1]))):
        taps = sorted({k[:-len(suffix)] for k in d for suffix in MEASURED_KEYS
                       if k.endswith(suffix)})
        for tap in taps:
            cells = ' | '.join(_f(d.get(f'{tap}_{key}'), 3) for key, _ in MEASURED_COLUMNS)
            lines.append(f"| {m} | {s} | {tap} | {_f(d['kd_loss_first'], 4)} → "
                         f"{_f(d['kd_loss_last'], 4)} | {_f(d['det_loss_last'], 3)} | "
                         f"{_f(d.get('detection_ratio'), 3)} | {cells} |")
    return lines


def _class_table(e: dict) -> List[str]:
    """Markdown lines: per class and view, the student's mean and seed sd, and every arm's
    paired gain [95 % CI] (which class carries the 3-class mAP's gains and its noise)."""
    ref = e['runs'].get('student', {})
    arms = [(m, a) for m, a in e['arms'].items() if a.get('paired_gain_class')]
    if len(ref) < 2 or not arms or not all('ap' in r for r in ref.values()):
        return []
    cols = [(v, c) for v in ('3D', 'BEV') for c in CLASSES]
    lines = ['', 'Per class (moderate AP40; Car at IoU 0.7, Pedestrian / Cyclist at 0.5): '
                 'the student\'s mean ± seed sd, and each method\'s paired gain [95 % CI]:',
             '', '| | ' + ' | '.join(f'{c} {v}' for v, c in cols) + ' |',
             '|---|' + '---|' * len(cols)]
    cells = []
    for v, c in cols:
        vals = [r['ap'][v][c]['moderate'] for r in ref.values()]
        cells.append(f'{statistics.fmean(vals):.2f} ± {statistics.stdev(vals):.2f}')
    lines.append('| student (mean ± sd) | ' + ' | '.join(cells) + ' |')
    for m, a in arms:
        g = a['paired_gain_class']
        cells = [format_interval(g[v][c], verdict=False) for v, c in cols]
        lines.append(f'| {m} | ' + ' | '.join(cells) + ' |')
    return lines


def _curve_table(e: dict) -> List[str]:
    """Markdown lines: per method, the mean over seeds of the validation 3D mAP at every
    validated iteration, and the paired 3D difference to the student there (mean over the
    seeds where both runs have that validation). Empty when no run has more than one
    validation."""
    curves = {m: {s: {c['iter']: c for c in r.get('curve', [])} for s, r in runs.items()}
              for m, runs in e['runs'].items()}
    iters = sorted({i for per_seed in curves.values() for c in per_seed.values() for i in c})
    if len(iters) < 2:
        return []
    lines = ['', 'Learning curves (validation 3D mAP, mean over the seeds validated at the '
                 'iteration; in brackets the mean paired difference to the student there; a run '
                 'interrupted during a validation and resumed from that iteration\'s checkpoint '
                 'has no value there):',
             '', '| method | ' + ' | '.join(f'iter {i}' for i in iters) + ' |',
             '|---|' + '---|' * len(iters)]
    for m, per_seed in curves.items():
        gains = curve_gains(e, m) if m != 'student' else {}
        cells = []
        for i in iters:
            vals = [c[i]['map_3d'] for c in per_seed.values() if i in c]
            cell = _f(statistics.fmean(vals)) if vals else '–'
            if i in gains:
                cell += f" ({gains[i]['mean']:+.2f})"
            cells.append(cell)
        lines.append(f'| {m} | ' + ' | '.join(cells) + ' |')
    return lines


def _curve_gain_table(e: dict) -> List[str]:
    """Markdown lines: every arm's paired 3D difference to the student at each validation with
    its 95 % CI and n (:func:`~.kd_gain.curve_gains`). Empty without curves on 2+ seeds."""
    gains = {m: curve_gains(e, m) for m in e['arms']}
    gains = {m: g for m, g in gains.items() if any(x['n'] >= 2 for x in g.values())}
    if not gains:
        return []
    iters = sorted({i for g in gains.values() for i in g})
    lines = ['', 'Paired 3D difference to the student at each validation, 95 % CI (descriptive: '
                 'several looks at the same runs; the protocol\'s metric is the last one):', '',
             '| method − student | ' + ' | '.join(f'iter {i}' for i in iters) + ' |',
             '|---|' + '---|' * len(iters)]
    for m, g in gains.items():
        lines.append(f'| {m} | ' + ' | '.join(
            f"{format_interval(g[i], verdict=False)} (n = {g[i]['n']})" if i in g else '–'
            for i in iters) + ' |')
    return lines


def _spread_table(e: dict) -> List[str]:
    """Markdown lines: for every arm with 3 or more paired seeds, where the spread of its paired
    3D differences comes from (:func:`~.kd_gain.difference_spread`). Empty when no arm has."""
    rows = [(m, sp) for m in e['arms'] for sp in [difference_spread(e, m)] if sp]
    if not rows:
        return []
    ks = sorted({k for _, sp in rows for k in sp['sd_last']})
    lines = ['', 'Where the spread of the paired 3D differences comes from (descriptive, '
                 'computed from the runs above after the fact; no decision uses it). sd: of the '
                 'per-seed differences of the final 3D mAP; last k: each run summarised by the '
                 'mean of its last k validations (a smaller sd would point at end-point jitter, '
                 'which weight averaging removes); class / 3: the sd of a class\'s moderate 3D '
                 'AP differences over 3, its share of the mAP\'s scale; corr: correlation over '
                 'seeds of the student\'s and the arm\'s 3D mAP (the pairing removes variance '
                 'only where it is positive):', '',
             '| method − student | seeds | sd | ' + ''.join(f'last {k} | ' for k in ks)
             + ' | '.join(f'{c} / 3' for c in CLASSES) + ' | corr | sd student | sd arm |',
             '|---|---|---|' + '---|' * (len(ks) + len(CLASSES) + 3)]
    for m, sp in rows:
        cells = [_f(sp['sd_last'].get(k)) for k in ks] + [
            _f(sp['class_sd'].get(c)) for c in CLASSES]
        lines.append(f"| {m} | {len(sp['seeds'])} | {_f(sp['sd'])} | " + ' | '.join(cells)
                     + f" | {_f(sp['corr'], sign=True)} | {_f(sp['sd_ref'])} | "
                     f"{_f(sp['sd_arm'])} |")
    return lines


def _plot_per_run(rec: dict, path: str, series: Callable[[dict], Optional[tuple]],
                  ylabel: str, title: str, logy: bool = False,
                  teacher_line: bool = False) -> Optional[str]:
    """One panel per ratio with a run that has a series: ``series(run) -> (xs, ys) | None``
    drawn against the iteration, one colour per method, one line per seed. Returns the
    path, or None when no run has a series."""
    panels = [(ratio, e) for ratio, e in rec['ratios'].items()
              if any(series(r) for runs in e['runs'].values() for r in runs.values())]
    if not panels:
        return None
    matplotlib.use('Agg')
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for ax, (ratio, e) in zip(axes[0], panels):
        for k, (method, runs) in enumerate(e['runs'].items()):
            for j, (seed, r) in enumerate(sorted(runs.items(), key=lambda kv: int(kv[0]))):
                xy = series(r)
                if xy:
                    ax.plot(*xy, 'o-' if teacher_line else '-', color=f'C{k}', alpha=0.8,
                            lw=1, ms=3, label=method if j == 0 else None)
        if teacher_line:
            ax.axhline(rec['teacher']['map_3d'], color='k', ls='--', lw=0.8, label='teacher')
        if logy:
            ax.set_yscale('log')
        ax.set_xlabel('iteration')
        ax.set_ylabel(ylabel)
        ax.set_title(f'{ratio} student: {title} (one line per seed)')
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_learning_curves(rec: dict, path: str) -> Optional[str]:
    """One panel per ratio: validation 3D mAP against the iteration, one colour per method,
    one line per seed, the teacher's as a line. Returns the path, or None when no run has two
    validations."""
    def series(r):
        curve = r.get('curve', [])
        return ([c['iter'] for c in curve], [c['map_3d'] for c in curve]) \
            if len(curve) > 1 else None
    return _plot_per_run(rec, path, series, 'val 3D moderate mAP (AP40)', 'learning curves',
                         teacher_line=True)


def plot_kd_curves(rec: dict, path: str) -> Optional[str]:
    """One panel per ratio: the KD loss (log scale) of every distillation run against the
    iteration, one colour per method, one line per seed. Returns the path, or None when no
    run has a KD loss yet."""
    def series(r):
        curve = (r.get('kd') or {}).get('kd_loss_curve')
        return tuple(zip(*curve)) if curve else None
    return _plot_per_run(rec, path, series, 'KD loss (logger window mean)', 'KD loss per run',
                         logy=True)


def plot_paired_gains(rec: dict, path: str) -> Optional[str]:
    """One panel per ratio, one row per method: its per-seed paired 3D gains over the
    student-only run (dots) and their mean with the Student-t 95 % CI (bar); a line at 0.
    Returns the path, or None when no ratio has a paired seed yet."""
    matplotlib.use('Agg')
    panels = [(ratio, [(m, a['paired_gain']) for m, a in e.get('arms', {}).items()
                       if a['paired_gain']['n'] > 0])
              for ratio, e in rec['ratios'].items()]
    panels = [(ratio, arms) for ratio, arms in panels if arms]
    if not panels:
        return None
    height = 1.2 + 0.45 * max(len(arms) for _, arms in panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), height),
                             squeeze=False)
    for ax, (ratio, arms) in zip(axes[0], panels):
        for y, (method, g) in enumerate(reversed(arms)):
            ax.scatter(g['diffs'], [y] * len(g['diffs']), s=14, color='0.55', zorder=2)
            lo, hi = g['ci95'] if g['n'] >= 2 else (g['mean'], g['mean'])
            colour = 'C2' if lo > 0 else ('C3' if hi < 0 else 'C0')
            ax.errorbar(g['mean'], y, xerr=[[g['mean'] - lo], [hi - g['mean']]], fmt='D',
                        color=colour, capsize=4, zorder=3)
        ax.axvline(0.0, color='k', lw=0.8)
        ax.set_yticks(range(len(arms)))
        ax.set_yticklabels([f"{m} (n = {g['n']})" for m, g in reversed(arms)])
        ax.set_xlabel('paired 3D moderate-mAP gain over the student alone (points)')
        ax.set_title(f'{ratio} student: per-seed gains (grey), mean and 95 % CI')
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(rec: dict, out_json: Path) -> None:
    """Write ``<out>.json``, the KD-loss plot ``<out>.png``, the paired-gain plot
    ``<out>_gains.png``, the learning-curve plot ``<out>_curves.png`` (runs validated more
    than once) and the markdown ``<out>.md`` of a summarised record (plot names are
    stored in the record, relative to its folder)."""
    out = out_json.with_suffix('')
    out_json.parent.mkdir(parents=True, exist_ok=True)
    if plot_kd_curves(rec, str(out.with_suffix('.png'))):
        rec['plot'] = out.with_suffix('.png').name
    gains = out.parent / (out.name + '_gains.png')
    if plot_paired_gains(rec, str(gains)):
        rec['gains_plot'] = gains.name
    curves = out.parent / (out.name + '_curves.png')
    if plot_learning_curves(rec, str(curves)):
        rec['curves_plot'] = curves.name
    out_json.write_text(json.dumps(rec, indent=1))
    out.with_suffix('.md').write_text(render_markdown(rec))
