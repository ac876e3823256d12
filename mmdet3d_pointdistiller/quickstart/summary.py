"""The quickstart's report: ``summary.md`` / ``summary.json`` (tables, the committed
paired-seed benchmark next to this run's single-seed gain, stage times, machine)."""
from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Dict, Optional, Union

from mmdet3d_pointdistiller.quickstart.metrics import format_table, moderate_map
from mmdet3d_pointdistiller.utils import cpu_model_name
from mmdet3d_pointdistiller.utils.json_io import read_json, write_json
from mmdet3d_pointdistiller.utils.paths import repo_root

from .progress import fmt_seconds
from .settings import KD_GAIN_RECORD, STAGES, ZOO_TEACHER

__all__ = ['benchmark_comparison', 'benchmark_reference', 'loadavg', 'machine_description',
           'write_summary']


def write_summary(work_root: Path, results: Dict[str, dict], info: dict,
                  repo: Optional[Union[str, Path]] = None) -> str:
    """Write ``summary.md`` and ``summary.json`` of a quickstart run to ``work_root``.

    Args:
        results: per model (teacher, student, pointdistiller) the evaluation results.
        info: the run's settings, stage times, machine and command.
        repo: the repository root the committed benchmark record is read from.

    Returns:
        str: the markdown text.
    """
    rows = [results[n] for n in ('teacher', 'student', 'pointdistiller')]
    gain = {v: moderate_map(results['pointdistiller']['ap'], v)
            - moderate_map(results['student']['ap'], v) for v in ('BEV', '3D')}
    text = [
        '# PointDistiller quickstart on the simulated KITTI-format dataset', '',
        f"Budget `{info['budget']}`: {info['num_train']} train / {info['num_val']} val frames "
        f"(simulator seed {info['data_seed']}), "
        + (f"teacher trained here for {info['teacher_iters']} iterations, "
           if info.get('train_teacher') else
           f"the shipped sim model-zoo teacher (`{ZOO_TEACHER}`), ")
        + f"students {info['student_iters']} iterations each (batch {info['batch_size']}), "
        f"training seed {info['seed']}, {info['threads']} torch thread(s).", '',
        'AP40 of mmdet3d\'s KittiMetric on the simulated val split (official IoU 0.7 / 0.5 / '
        '0.5); mAP = mean over Car / Pedestrian / Cyclist of the moderate AP. GFLOPs: mmcv-1.x '
        'convention (multiply-adds of conv / deconv / linear + BN / ReLU element ops, '
        'forward hooks over `_forward`, mean over the val frames timed; voxelization and NMS '
        'not counted). CPU ms/frame: median wall time of `test_step` (voxelization, network, '
        'NMS) per val frame. The distilled row is the exported plain student.', '',
        '## BEV AP40 (paper Table 1 layout)', '', format_table(rows, 'BEV'), '',
        '## 3D AP40 (paper Table 2 layout)', '', format_table(rows, '3D'), '',
        f"PointDistiller - student only, moderate mAP: BEV {gain['BEV']:+.2f}, "
        f"3D {gain['3D']:+.2f} (this run: one seed, {info['seed']}).", '',
        benchmark_comparison(gain['3D'], info, repo), '',
        '## Stages', '', '| stage | seconds | reused |', '|---|---|---|']
    for st in STAGES[:-1]:
        text.append(f"| {st} | {info['stage_seconds'].get(st, 0):.0f} | "
                    f"{'yes' if st in info['skipped'] else 'no'} |")
    trained = ', '.join(f"{n} {fmt_seconds(results[n]['train_seconds'])}" for n in results
                        if results[n].get('train_seconds'))
    if trained:
        text += ['', f'Training wall time of each run when it was trained: {trained}.']
    text += ['', f"Total wall time {info['wall_seconds']:.0f} s "
                 f"({fmt_seconds(info['wall_seconds'])}) on {info['machine']}; "
                 f"load average at the end {info['loadavg']}.", '',
             f"Command: `{info['command']}`", '',
             'Pictures: `bev/<frame>_<model>.png` (points, GT in green, predictions with '
             'scores; for PointDistiller the selected pillars coloured by weight) and '
             '`training_curves.png`.', '']
    md = '\n'.join(text)
    (work_root / 'summary.md').write_text(md)
    write_json(work_root / 'summary.json', dict(results=results, info=info, moderate_map={
        n: {v: moderate_map(results[n]['ap'], v) for v in ('BEV', '3D')} for n in results},
        kd_gain=gain))
    return md


def benchmark_comparison(gain_3d: float, info: dict,
                         repo: Optional[Union[str, Path]] = None) -> str:
    """The sentence that puts this run's single-seed gain next to the committed paired-seed
    benchmark and says which one to trust."""
    ref = benchmark_reference('16x', repo)
    if ref is None or not ref.get('paired_gain') or ref['paired_gain']['n'] < 2:
        return ('No paired-seed benchmark record is committed yet '
                f'({KD_GAIN_RECORD}); a single seed cannot separate a KD gain from seed noise.')
    g = ref['paired_gain']
    same = (ref['budget'] or {}).get('iters') == info['student_iters'] and \
        not info.get('train_teacher')
    text = (f"The committed benchmark ({KD_GAIN_RECORD}, 16x, paired seeds "
            f"{', '.join(map(str, g['seeds']))}"
            + (', the same budget and teacher as this run' if same else
               ', another budget or teacher than this run') + f"): PointDistiller - student "
            f"3D {g['mean']:+.2f}, 95 % CI [{g['ci95'][0]:+.2f}, {g['ci95'][1]:+.2f}], "
            f"per-seed differences " + ', '.join(f'{d:+.2f}' for d in g['diffs'])
            + f" (seed-to-seed sd {g['sd']:.2f}). Trust the benchmark: this run is one draw "
              f"from that spread")
    if ref.get('missing'):
        text += f"; the record is partial ({len(ref['missing'])} run(s) missing)"
    return text + '.'


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
    """The committed paired-seed KD-gain record's entry for ``ratio`` (None if absent)."""
    rec = read_json(repo_root(repo) / KD_GAIN_RECORD)
    if not rec or ratio not in rec.get('ratios', {}):
        return None
    e = rec['ratios'][ratio]
    return dict(paired_gain=e.get('paired_gain'), gap_closed=e.get('gap_closed'),
                seeds=e.get('seeds'), missing=e.get('missing', []), budget=rec.get('budget'),
                teacher_sha256=rec.get('teacher', {}).get('sha256'))
