#!/usr/bin/env python
"""Distillation gain on the simulated KITTI-format dataset: seeds x methods, one shared teacher.

For every seed and every method config, one ``mim train mmdet3d <config>`` run with the same
iteration budget, batch and data (the quickstart's sim configs and training stages); the
moderate mAP (mean over Car / Pedestrian / Cyclist of KittiMetric's moderate AP40) of the
final weights on the simulated val split is collected, and mean +- std per method is written
to ``benchmarks/kd_gain_sim.md`` and ``.json``.

    python tools/benchmark_kd_gain.py                      # student vs PointDistiller, 3 seeds
    python tools/benchmark_kd_gain.py --seeds 0 1 --methods \
        student=configs/sim/pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py \
        pointdistiller-frozen=configs/sim/pointdistiller-frozen-tadapter_<...>.py \
        fitnets=configs/sim/kd_methods/<...>.py     # any distillation config plugs in

The committed records were made this way: ``benchmarks/kd_gain_sim`` (student, PointDistiller,
frozen teacher adapter) and ``benchmarks/kd_methods_sim`` (the seven earlier KD methods and the
LD / RL ablations of ``configs/sim/kd_methods/``, ``--title`` set); each file ends with its
exact command.

A method config whose model is a ``PointDistillerDetector`` (``distill=True``) gets
``model.teacher_ckpt`` = the shared teacher (``--teacher-ckpt``, or a teacher trained once here
with ``--teacher-iters``). Finished runs are reused (same marker logic as the quickstart) and
take no slot among the ``--jobs`` runs trained together, so an interrupted benchmark continues
where it stopped and a new method set shares the runs of an earlier one; the report names the
reused runs, and its wall time covers the runs that invocation trained. Each method's row also
shows the paper's KITTI moderate mAP where the paper reports that method (Table 3 / 5, by name
with ``_`` read as ``-``). A CUDA device is used when torch sees one
(mmengine's default), the CPU otherwise (``--threads`` torch threads per run, ``--jobs``
runs at the same time).
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_METHODS = (
    'student=configs/sim/pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
    'pointdistiller='
    'configs/sim/pointdistiller_pointpillars-4x_hv-secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
)
METRIC = ('KittiMetric AP40 moderate mAP (3D), mean over Car / Pedestrian / Cyclist, '
          'simulated val split, %')


def parse_methods(items: Sequence[str]) -> Dict[str, str]:
    """``['name=config', ...]`` -> ordered ``{name: config}`` (configs relative to the repo)."""
    methods: Dict[str, str] = {}
    for item in items:
        if '=' not in item:
            raise SystemExit(f'--methods entries are name=config, got {item!r}')
        name, config = item.split('=', 1)
        if not name or not name.replace('_', '').replace('-', '').isalnum():
            raise SystemExit(f'--methods: bad method name {name!r} (letters, digits, -, _)')
        if name in methods or name == 'teacher':
            raise SystemExit(f'--methods: name {name!r} is used twice or reserved')
        path = Path(config)
        if not (path if path.is_absolute() else REPO / path).is_file():
            raise SystemExit(f'--methods {name}: config {config} does not exist')
        methods[name] = config
    if not methods:
        raise SystemExit('--methods needs at least one name=config')
    return methods


def needs_teacher(config: str) -> bool:
    """Whether ``config``'s model is a distiller that loads a teacher checkpoint."""
    from mmengine.config import Config
    path = Path(config) if Path(config).is_absolute() else REPO / config
    model = Config.fromfile(str(path)).model
    return model.get('type') == 'PointDistillerDetector' and model.get('distill', True)


def kd_diagnostics(work_dir: Path, ckpt: Path) -> Optional[dict]:
    """KD loss at the start / end of a distillation run, the final detection loss, and the
    adapters' BN scale and output variance in its final checkpoint (None for runs without
    ``loss_pd_*``)."""
    from mmdet3d_pointdistiller.compat import safe_torch_load
    from mmdet3d_pointdistiller.engine.hooks import relu_gaussian_variance
    from mmdet3d_pointdistiller.quickstart.metrics import read_scalars
    from mmdet3d_pointdistiller.vis.bev import detection_loss
    train = [r for r in read_scalars(str(work_dir)) if 'iter' in r]
    kd = [r for r in train if any(k.startswith('loss_pd_') for k in r)]
    if not kd:
        return None

    def kd_sum(r):
        return sum(v for k, v in r.items() if k.startswith('loss_pd_'))

    out = dict(kd_loss_first=kd_sum(kd[0]), kd_loss_last=kd_sum(kd[-1]),
               first_iter=kd[0]['iter'], det_loss_last=detection_loss(train[-1]))
    state = safe_torch_load(str(ckpt), map_location='cpu')['state_dict']
    for side in ('teacher', 'student'):
        keys = sorted(k for k in state if k.endswith(f'.{side}_adapter.bn.weight'))
        if not keys:
            continue
        gamma = state[keys[0]].float()
        beta = state[keys[0].replace('.weight', '.bias')].float()
        out[f'gamma_{side[0]}'] = float(gamma.abs().mean())
        out[f'var_{side[0]}'] = float(relu_gaussian_variance(gamma, beta).mean())
    return out


def paper_reference(names: Sequence[str]) -> Dict[str, dict]:
    """The moderate mAP the paper reports for ``teacher`` and each method whose name (``_``
    read as ``-``) is a row key of its Table 3 (KD methods), else Table 5 (LD / RL ablations):
    ``{name: {'table': 3 | 5, '3D': mAP, 'BEV': mAP}}``. Those are real-KITTI numbers with the
    full-scale teacher: an ordering to compare with, not values to compare with."""
    from mmdet3d_pointdistiller.paper_results import paper_table
    out: Dict[str, dict] = {}
    for name in ['teacher', *names]:
        key = name.replace('_', '-')
        for table in (3, 5):
            row = next((r for r in paper_table(table)['rows'] if r['key'] == key), None)
            if row is not None:
                out[name] = {'table': table, '3D': row['values']['d3']['mAP'],
                             'BEV': row['values']['bev']['mAP']}
                break
    return out


def run_groups(jobs: Sequence, size: int) -> List[list]:
    """The jobs still to train (``job.ran``), in order, in groups of ``size`` that run
    together; finished runs are reused and take no slot in a group."""
    if size < 1:
        raise SystemExit(f'--jobs must be >= 1, got {size}')
    pending = [j for j in jobs if j.ran]
    return [pending[i:i + size] for i in range(0, len(pending), size)]


def mean_std(values: Sequence[float]) -> Dict[str, float]:
    vals = [float(v) for v in values]
    return dict(mean=statistics.fmean(vals) if vals else math.nan,
                std=statistics.stdev(vals) if len(vals) > 1 else 0.0, n=len(vals))


DEFAULT_TITLE = 'Distillation gain on the simulated KITTI-format dataset'


def write_report(out_md: Path, out_json: Path, result: dict) -> None:
    """Write the markdown table and the JSON of a benchmark result."""
    out_json.parent.mkdir(parents=True, exist_ok=True)
    with open(out_json, 'w') as f:
        json.dump(result, f, indent=1)
    seeds = result['seeds']
    paper = result.get('paper') or {}

    def paper_cells(name):
        if not paper:
            return ''
        p = paper.get(name)
        return f" {p['3D']:.1f} | {p['BEV']:.1f} |" if p else ' – | – |'
    lines = [f"# {result.get('title') or DEFAULT_TITLE}", '',
             f"Metric: {result['metric']}.", '',
             f"Budget: {result['budget']['student_iters']} iterations per student (batch "
             f"{result['budget']['batch_size']}), {result['budget']['num_train']} train / "
             f"{result['budget']['num_val']} val frames (simulator seed "
             f"{result['data_seed']}); teacher {result['teacher']['iters']} iterations, shared "
             f"by every run (`{result['teacher']['checkpoint']}`).", '',
             '| method | config | ' + ' | '.join(f'seed {s}' for s in seeds)
             + ' | mean ± std (3D) | mean ± std (BEV) |'
             + (' paper 3D | paper BEV |' if paper else ''),
             '|---|---|' + '---|' * len(seeds) + '---|---|' + ('---|---|' if paper else '')]
    t = result['teacher']
    lines.append(f"| teacher | `{t['config']}` | " + ' | '.join(
        f"{t['map_3d']:.2f}" if i == 0 else '(shared)' for i in range(len(seeds)))
        + f" | {t['map_3d']:.2f} | {t['map_bev']:.2f} |" + paper_cells('teacher'))
    for name, cfg in result['methods'].items():
        vals = result['runs'][name]
        s3, sb = result['summary'][name]['3D'], result['summary'][name]['BEV']
        lines.append(f'| {name} | `{cfg}` | ' + ' | '.join(f'{v:.2f}' for v in vals)
                     + f" | {s3['mean']:.2f} ± {s3['std']:.2f} | "
                       f"{sb['mean']:.2f} ± {sb['std']:.2f} |" + paper_cells(name))
    lines.append('')
    if paper:
        tables = sorted({p['table'] for p in paper.values()})
        lines += ['Paper columns: the moderate mAP the paper reports on real KITTI val with the '
                  'full-scale teacher (Table ' + ' / '.join(map(str, tables)) + '), for '
                  'comparing the ordering of the methods only; the values are not comparable '
                  'with the simulated dataset\'s.', '']
    for name, g in result.get('gain_over_student', {}).items():
        lines.append(f"- {name} - student (3D moderate mAP): {g['mean_diff']:+.2f} (per seed "
                     f"{', '.join(f'{d:+.2f}' for d in g['per_seed'])}); seed-to-seed std of "
                     f"the student {g['student_std']:.2f}, of {name} {g['method_std']:.2f}; "
                     f"{'larger' if g['exceeds_std'] else 'NOT larger'} than the larger std.")
    if result.get('note'):
        lines += ['', result['note']]
    diags = result.get('kd_diagnostics') or []
    if diags:
        lines += ['', '## KD diagnostics', '',
                  'KD loss (`loss_pd_*`, logger window mean) at the first log line and at the '
                  'end, detection loss at the end, and the adapters in the final checkpoint: '
                  'mean |BN scale| and output variance Var[ReLU(gamma z + beta)], z ~ N(0, 1) '
                  '(0.34 at initialisation).', '',
                  '| method | seed | KD loss first → last | det. loss last | γ_T (mean abs) | '
                  'γ_S (mean abs) | '
                  'var_T | var_S |', '|---|---|---|---|---|---|---|---|']
        for d in diags:
            # methods without PointDistiller-style adapters have no BN scale / variance
            adapters = ' | '.join(f'{d[k]:.3f}' if k in d else '–'
                                  for k in ('gamma_t', 'gamma_s', 'var_t', 'var_s'))
            lines.append(f"| {d['method']} | {d['seed']} | {d['kd_loss_first']:.4f} → "
                         f"{d['kd_loss_last']:.4f} | {d['det_loss_last']:.3f} | {adapters} |")
    reused = result.get('reused_runs') or []
    trained = [n for n in result.get('train_seconds', {}) if n not in reused]
    lines += ['', f"Wall time {result['wall_time_s']:.0f} s on {result['machine']} "
                  f"(device: {result['device']}, {result['threads']} torch thread(s) per run, "
                  f"{result['jobs']} run(s) at a time; load average at the end "
                  f"{result['loadavg']})"
              + (f" for the {len(trained)} run(s) trained by that invocation; "
                 f"{len(reused)} finished run(s) with identical config and options were "
                 f"reused from the same work dir: {', '.join(reused)}" if reused else '')
              + '.', '', f"Command: `{result['command']}`", '']
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text('\n'.join(lines))


def main(argv: Optional[List[str]] = None) -> int:
    from mmdet3d_pointdistiller.quickstart.pipeline import BUDGETS
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--methods', nargs='+', default=list(DEFAULT_METHODS),
                   help='name=config pairs (default: student and pointdistiller sim configs)')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--budget', default='full', choices=sorted(BUDGETS),
                   help='dataset size and default iterations (the quickstart budgets)')
    p.add_argument('--student-iters', type=int, help='iterations of every method run')
    p.add_argument('--teacher-iters', type=int, help='iterations of the shared teacher')
    p.add_argument('--teacher-ckpt',
                   help='the shared teacher (default: the quickstart\'s '
                        'work_dirs/quickstart/teacher/iter_<budget teacher iters>.pth when '
                        'it exists, else one is trained here with the budget\'s iterations)')
    p.add_argument('--teacher-work-dir',
                   help='work dir of --teacher-ckpt\'s run (for its KittiMetric result)')
    p.add_argument('--data-root', default='data/sim_kitti')
    p.add_argument('--data-seed', type=int, default=0, help='simulator seed of the dataset')
    p.add_argument('--work-dir', default='work_dirs/kd_gain')
    p.add_argument('--threads', type=int, default=1, help='torch threads per CPU run')
    p.add_argument('--jobs', type=int, default=2, help='runs at the same time')
    p.add_argument('--out', default='benchmarks/kd_gain_sim',
                   help='output prefix: <out>.md and <out>.json')
    p.add_argument('--force', action='store_true', help='retrain finished runs')
    p.add_argument('--title', default=DEFAULT_TITLE, help='heading of the markdown report')
    p.add_argument('--note', default='', help='free text added to the report (e.g. how the '
                                              'seeds were chosen)')
    args = p.parse_args(argv)

    import torch
    from mmdet3d_pointdistiller.quickstart.metrics import (extract_ap40, final_val_metrics,
                                                           moderate_map)
    from mmdet3d_pointdistiller.quickstart.pipeline import (CONFIGS, Budget, Progress,
                                                            TrainJob, _loadavg,
                                                            ensure_dataset, fmt_seconds,
                                                            machine_description,
                                                            run_train_jobs, subprocess_env)
    from dataclasses import asdict

    methods = parse_methods(args.methods)
    if len(set(args.seeds)) != len(args.seeds):
        raise SystemExit(f'--seeds has duplicates: {args.seeds}')
    b = Budget(**asdict(BUDGETS[args.budget]))
    if args.student_iters:
        b.student_iters = args.student_iters
    if args.teacher_iters:
        b.teacher_iters = args.teacher_iters
    b.evals = 1
    work = Path(args.work_dir).resolve()
    root = Path(args.data_root).resolve()
    env = subprocess_env(root, args.threads)
    runs_total = len(methods) * len(args.seeds)
    est = dict(data=60.0, teacher=0.0 if args.teacher_ckpt else 30 + 2.0 * b.teacher_iters,
               runs=runs_total * (30 + 1.3 * b.student_iters) / max(1, min(args.jobs, 2)),
               report=1.0)
    progress = Progress(est, label='kd-gain')
    t0 = time.perf_counter()
    progress.print(f'kd gain benchmark: {list(methods)} x seeds {args.seeds}, '
                   f'{b.student_iters} iterations each; work dir {work}')

    progress.start('data', f'dataset {root}')
    ensure_dataset(root, b, args.data_seed, False, progress)

    progress.start('teacher', 'shared teacher')
    if not args.teacher_ckpt and not args.teacher_iters:
        # the quickstart's teacher (same configs, data and budget) when it has been trained
        qs = REPO / 'work_dirs' / 'quickstart' / 'teacher'
        marker = qs / 'quickstart_stage.json'
        ckpt = qs / f'iter_{b.teacher_iters}.pth'
        if marker.is_file() and json.loads(marker.read_text()).get('finished') and \
                ckpt.is_file():
            args.teacher_ckpt = str(ckpt)
            progress.print(f'  using the quickstart\'s teacher {ckpt}')
    if args.teacher_ckpt:
        teacher_ckpt = Path(args.teacher_ckpt).resolve()
        if not teacher_ckpt.is_file():
            raise SystemExit(f'--teacher-ckpt {teacher_ckpt} does not exist')
        teacher_dir = Path(args.teacher_work_dir).resolve() if args.teacher_work_dir \
            else teacher_ckpt.parent
        teacher_iters = int(teacher_ckpt.stem.split('_')[-1]) \
            if teacher_ckpt.stem.startswith('iter_') else None
        progress.finish(skipped=True, note=str(teacher_ckpt))
    else:
        tjob = TrainJob('teacher', CONFIGS['teacher'], work / 'teacher', b.teacher_iters, 1, 0,
                        env, force=args.force, batch_size=b.batch_size)
        run_train_jobs([tjob], progress, parallel=False)
        teacher_ckpt, teacher_dir, teacher_iters = tjob.ckpt, tjob.work_dir, tjob.iters
    t_ap = extract_ap40(final_val_metrics(str(teacher_dir), step=teacher_iters))

    progress.start('runs', f'{runs_total} runs ({args.jobs} at a time)')
    jobs: List[TrainJob] = []
    for seed in args.seeds:
        for name, config in methods.items():
            extra = [f'model.teacher_ckpt={teacher_ckpt}'] if needs_teacher(config) else []
            jobs.append(TrainJob(f'{name}_seed{seed}', config, work / name / f'seed_{seed}',
                                 b.student_iters, 1, seed, env, force=args.force,
                                 extra_options=extra, batch_size=b.batch_size))
    # run the pending jobs in groups of --jobs (finished runs are reused and take no slot);
    # the group's own progress lines, and the overall ETA between groups
    groups = run_groups(jobs, args.jobs)
    if sum(map(len, groups)) < len(jobs):
        progress.print(f'  reusing {len(jobs) - sum(map(len, groups))} finished run(s): ' +
                       ', '.join(j.name for j in jobs if not j.ran))
    t_runs = time.perf_counter()
    for k, group in enumerate(groups):
        if k:
            per_group = (time.perf_counter() - t_runs) / k
            progress.update(k / len(groups), f'{k}/{len(groups)} groups done',
                            stage_eta=per_group * (len(groups) - k))
        sub = Progress({'runs': est['runs'] / len(groups)},
                       label=f'kd-gain group {k + 1}/{len(groups)}')
        sub.start('runs', ', '.join(j.name for j in group))
        run_train_jobs(group, sub, parallel=args.jobs > 1)
    progress.finish()

    runs: Dict[str, List[float]] = {n: [] for n in methods}
    runs_bev: Dict[str, List[float]] = {n: [] for n in methods}
    diagnostics = []
    for job in jobs:
        name, seed = job.name.rsplit('_seed', 1)
        ap = extract_ap40(final_val_metrics(str(job.work_dir), step=job.iters))
        runs[name].append(moderate_map(ap, '3D'))
        runs_bev[name].append(moderate_map(ap, 'BEV'))
        diag = kd_diagnostics(job.work_dir, job.ckpt)
        if diag:
            diagnostics.append(dict(method=name, seed=int(seed), **diag))

    summary = {n: {'3D': mean_std(runs[n]), 'BEV': mean_std(runs_bev[n])} for n in methods}
    gain = {}
    if 'student' in methods:
        for n in methods:
            if n == 'student':
                continue
            diffs = [a - s for a, s in zip(runs[n], runs['student'])]
            s_std, m_std = summary['student']['3D']['std'], summary[n]['3D']['std']
            mean_diff = statistics.fmean(diffs)
            gain[n] = dict(mean_diff=mean_diff, per_seed=diffs, student_std=s_std,
                           method_std=m_std, exceeds_std=mean_diff > max(s_std, m_std))
    device = ('cuda: ' + torch.cuda.get_device_name(0)) if torch.cuda.is_available() else 'cpu'
    result = dict(
        metric=METRIC, seeds=args.seeds, methods=methods, runs=dict(runs),
        runs_bev=dict(runs_bev), summary=summary, gain_over_student=gain,
        teacher=dict(config=CONFIGS['teacher'], checkpoint=str(teacher_ckpt),
                     iters=teacher_iters, map_3d=moderate_map(t_ap, '3D'),
                     map_bev=moderate_map(t_ap, 'BEV')),
        budget=asdict(b), data_seed=args.data_seed, data_root=str(root),
        command=' '.join(['python tools/benchmark_kd_gain.py'] + [shlex.quote(a) for a in (
            sys.argv[1:] if argv is None else argv)]),
        wall_time_s=time.perf_counter() - t0, kd_diagnostics=diagnostics,
        train_seconds={j.name: j.seconds for j in jobs}, machine=machine_description(),
        device=device,
        threads=args.threads, jobs=args.jobs, loadavg=_loadavg(), note=args.note,
        title=args.title, paper=paper_reference(list(methods)),
        reused_runs=[j.name for j in jobs if not j.ran])
    # the teacher appears in "runs" too (one shared value), as the JSON layout asks
    result['runs'] = dict(teacher=[result['teacher']['map_3d']], **result['runs'])
    out = Path(args.out)
    previous = out.with_suffix('.json')
    if not any(j.ran for j in jobs) and previous.is_file():
        # every run was reused: keep the wall time of the invocation that trained them
        prev = json.loads(previous.read_text())
        if prev.get('seeds') == result['seeds'] and prev.get('methods') == result['methods']:
            result['wall_time_s'] = prev['wall_time_s']
            result['loadavg'] = prev.get('loadavg', result['loadavg'])
            # which runs that invocation itself reused (unknown for reports of older versions)
            if 'reused_runs' in prev:
                result['reused_runs'] = prev['reused_runs']
            else:
                result.pop('reused_runs')
            result['report_regenerated_from_finished_runs'] = True
    write_report(out.with_suffix('.md'), out.with_suffix('.json'), result)
    progress.print(out.with_suffix('.md').read_text())
    progress.print(f'wrote {out.with_suffix(".md")} and {out.with_suffix(".json")} in '
                   f'{fmt_seconds(result["wall_time_s"])}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
