"""The quickstart's report: ``summary.md`` / ``summary.json`` (the paper-layout tables of the
shipped teacher and converged students as tested here, beside their records; the committed
paired-seed benchmark's gains; what the live demo did; stage times, machine)."""
from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

from mmdet3d_pointdistiller.quickstart.metrics import format_table, moderate_map
from mmdet3d_pointdistiller.utils import cpu_model_name
from mmdet3d_pointdistiller.utils.json_io import read_json, write_json
from mmdet3d_pointdistiller.utils.paths import repo_root
from mmdet3d_pointdistiller.utils.scalars import read_scalars

from ..vis.bev import detection_loss
from .progress import fmt_seconds
from .settings import KD_GAIN_RECORD, STAGES, ZOO_STUDENTS, ZOO_TEACHER

__all__ = ['benchmark_comparison', 'benchmark_reference', 'demo_text', 'loadavg',
           'machine_description', 'reproduction_text', 'write_summary']


def write_summary(work_root: Path, results: Dict[str, dict], info: dict,
                  repo: Optional[Union[str, Path]] = None) -> str:
    """Write ``summary.md`` and ``summary.json`` of a quickstart run to ``work_root``.

    Args:
        results: per evaluated model (``teacher`` and the shipped ``zoo_*`` students) the
            :func:`~.evaluation.evaluate_models` results.
        info: the run's settings, the demo run, stage times, machine and command.
        repo: the repository root the committed benchmark record is read from.

    Returns:
        str: the markdown text.
    """
    names = [n for n in ('teacher', *ZOO_STUDENTS) if n in results]
    rows = [results[n] for n in names]
    missing = [n for n in ZOO_STUDENTS if n not in results]
    text = [
        '# PointDistiller quickstart on the simulated KITTI-format dataset', '',
        f"Budget `{info['budget']}`: {info['num_train']} train / {info['num_val']} val frames "
        f"(simulator seed {info['data_seed']}); "
        + (f"teacher trained here ({info['teacher_iters']} iterations)"
           if info.get('train_teacher') else
           f"the shipped sim model-zoo teacher (`{ZOO_TEACHER}`)")
        + ('; the shipped converged 16x students (`checkpoints/sim/`: seed 1 of the paired-seed '
           "benchmark's runs)" if len(names) > 1 else '')
        + '; every model tested here with `Runner.test` (the path of `mim test`), '
        f"{info['threads']} torch thread(s).", '',
        'AP40 of mmdet3d\'s KittiMetric on the simulated val split (official IoU 0.7 / 0.5 / '
        '0.5); mAP = mean over Car / Pedestrian / Cyclist of the moderate AP. GFLOPs: mmcv-1.x '
        'convention (multiply-adds of conv / deconv / linear + BN / ReLU element ops, '
        'forward hooks over `_forward`, mean over the val frames timed; voxelization and NMS '
        'not counted). CPU ms/frame: median wall time of `test_step` (voxelization, network, '
        'NMS) per val frame.'
        + (' The distilled student is a plain mmdet3d checkpoint of the student config '
           '(exported from the distiller).' if 'zoo_pointdistiller' in names else ''), '',
        '## BEV AP40 (paper Table 1 layout)', '', format_table(rows, 'BEV'), '',
        '## 3D AP40 (paper Table 2 layout)', '', format_table(rows, '3D'), '']
    if missing:
        text += [f"Not shipped yet: {', '.join(f'`{ZOO_STUDENTS[n]}`' for n in missing)} (the "
                 'converged students are seed 1 of the reporting runs of '
                 '`benchmarks/protocols/kd_gain_sim.md`; `tools/train_sim_zoo.py student-16x` '
                 'and `pointdistiller-16x` ship them).', '']
    text += [reproduction_text(results, names, info), '',
             benchmark_comparison(info, repo), '',
             '## Live demo (not a result)', '', demo_text(info), '',
             '## Stages', '', '| stage | seconds | reused |', '|---|---|---|']
    for st in STAGES[:-1]:
        text.append(f"| {st} | {info['stage_seconds'].get(st, 0):.0f} | "
                    f"{'yes' if st in info['skipped'] else 'no'} |")
    text += ['', f"Total wall time {info['wall_seconds']:.0f} s "
                 f"({fmt_seconds(info['wall_seconds'])}) on {info['machine']}; "
                 f"load average at the end {info['loadavg']}.", '',
             f"Command: `{info['command']}`", '',
             'Pictures: `bev/<frame>_<model>.png` (points, GT in green, predictions with '
             'scores; for the demo the pillars its distiller selected, coloured by weight) and '
             '`training_curves.png` (the demo\'s detection and KD losses).', '']
    md = '\n'.join(text)
    (work_root / 'summary.md').write_text(md)
    write_json(work_root / 'summary.json', dict(results=results, info=info, moderate_map={
        n: {v: moderate_map(results[n]['ap'], v) for v in ('BEV', '3D')} for n in results}))
    return md


def reproduction_text(results: Dict[str, dict], names: Sequence[str], info: dict) -> str:
    """This evaluation beside each shipped model's record (measured on the zoo's val split:
    equal up to the simulator's determinism when this run's dataset is the zoo's)."""
    parts = []
    for n in names:
        rec = results[n].get('record_ap')
        if rec is not None:
            parts.append(f"{results[n]['name']} {moderate_map(results[n]['ap'], '3D'):.2f} "
                         f"(record {moderate_map(rec, '3D'):.2f})")
    if not parts:
        return 'No shipped model\'s record to compare with (a teacher trained here).'
    zoo = (info['num_train'], info['num_val'], info['data_seed']) == (1500, 300, 0)
    return ('3D mAP measured here beside each model\'s zoo record: ' + '; '.join(parts) + '.'
            + ('' if zoo else ' This run\'s val split is not the zoo\'s (other sizes or '
               'seed), so the two may differ.'))


def benchmark_comparison(info: dict, repo: Optional[Union[str, Path]] = None) -> str:
    """The committed paired-seed record's result: each distillation method's mean paired 3D
    gain over the student alone with its 95 % interval; the record, not one run, is the
    evidence."""
    ref = benchmark_reference('16x', repo)
    if ref is None:
        return ('No paired-seed benchmark record is committed yet '
                f'({KD_GAIN_RECORD}); a single seed cannot separate a KD gain from seed noise.')
    if not ref.get('gains'):
        return (f"The paired-seed benchmark ({KD_GAIN_RECORD}) is still running: no method has "
                f"two paired seeds yet ({len(ref['missing'])} run(s) missing), so no gain is "
                'quoted; a single seed cannot separate a KD gain from seed noise.')
    budget = ref['budget'] or {}
    lines = [f"The committed benchmark ({KD_GAIN_RECORD}, 16x, {budget.get('iters')} iterations "
             f"of batch {budget.get('batch_size')}), paired by seed, PointDistiller − student "
             'alone, 3D mAP:']
    for method, g in ref['gains'].items():
        lines.append(f"- `{method}`: {g['mean']:+.2f}, 95 % CI [{g['ci95'][0]:+.2f}, "
                     f"{g['ci95'][1]:+.2f}] over seeds {', '.join(map(str, g['seeds']))} "
                     '(per seed ' + ', '.join(f'{d:+.2f}' for d in g['diffs']) + ')')
    if ref.get('missing'):  # a paragraph of its own, not a continuation of the last item
        lines += ['', f"The record is partial: {len(ref['missing'])} run(s) missing."]
    return '\n'.join(lines)


def demo_text(info: dict) -> str:
    """What the live PointDistiller run did: iterations, time, its losses at the start and
    the end (``loss_pd_*`` and detection), from its logged scalars."""
    demo = info['demo']
    recs = [r for r in read_scalars(demo['work_dir']) if 'iter' in r and 'loss' in r]
    kd = [r for r in recs if any(k.startswith('loss_pd_') for k in r)]
    text = (f"`mim train mmdet3d {info['configs']['pointdistiller']}` for {demo['iters']} "
            f"iterations (batch {info['batch_size']}, training seed {info['seed']}"
            + (f", {fmt_seconds(demo['seconds'])}" if demo.get('seconds') else '')
            + ') from the teacher above, not validated: a few hundred iterations show the '
              'machinery (the KD and detection losses, the selected pillars in '
              '`bev/<frame>_pointdistiller.png`), not what distillation gives; the converged '
              'students above and the record do.')
    if kd:
        def total(r):
            return sum(v for k, v in r.items() if k.startswith('loss_pd_'))
        first, last = kd[0], kd[-1]
        text += (f" KD loss {total(first):.4f} at iteration {first['iter']} -> "
                 f"{total(last):.4f} at {last['iter']}; detection loss "
                 f"{detection_loss(first):.3f} -> {detection_loss(last):.3f}.")
    return text


def machine_description() -> str:
    """CPU cores, CPU model and operating system, in words."""
    return (f'{os.cpu_count()} CPU cores ({cpu_model_name()}), '
            f'{platform.system()} {platform.release()}')


def loadavg() -> str:
    """The 1, 5 and 15-minute load averages as text (``'n/a'`` where unavailable)."""
    try:
        return ', '.join(f'{v:.2f}' for v in os.getloadavg())
    except OSError:
        return 'n/a'


def benchmark_reference(ratio: str = '16x',
                        repo: Optional[Union[str, Path]] = None) -> Optional[dict]:
    """The committed paired-seed KD-gain record's entry for ``ratio`` (None if absent):
    ``gains`` (method -> its paired 3D gain over the student: ``mean``, ``ci95``, ``diffs``,
    ``seeds``, ``n``; methods with at least two paired seeds), ``missing``, ``budget`` and the
    teacher's sha256."""
    rec = read_json(repo_root(repo) / KD_GAIN_RECORD)
    if not rec or ratio not in rec.get('ratios', {}):
        return None
    e = rec['ratios'][ratio]
    gains = {m: a['paired_gain'] for m, a in e.get('arms', {}).items()
             if (a.get('paired_gain') or {}).get('n', 0) >= 2}
    return dict(gains=gains, missing=e.get('missing', []), budget=rec.get('budget'),
                teacher_sha256=rec.get('teacher', {}).get('sha256'))
