"""The paired-seed KD-gain harness: the work of ``tools/benchmark_kd_gain.py`` (its docstring
gives the method, the outputs and the commands).

:func:`run` trains every (seed, method) run with ``mim train`` through
:class:`~mmdet3d_pointdistiller.quickstart.jobs.TrainJob` (``--jobs`` at a time,
:func:`run_pool`), reuses finished and recorded runs, and rewrites the record after every run
(statistics, report and pictures: :mod:`.kd_gain`; pre-registration: :mod:`.protocol`).
:func:`render`, :func:`compare` and :func:`hashes` are the tool's other modes.
"""
from __future__ import annotations

import json
import threading
import time
from argparse import Namespace
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config

from ..quickstart.dataset import ensure_dataset
from ..quickstart.jobs import TrainJob, config_hash, subprocess_env
from ..quickstart.progress import Progress, fmt_seconds
from ..quickstart.settings import KD_GAIN_RECORD, ZOO_RECORD, Budget
from ..quickstart.summary import machine_description
from ..utils.paths import checkout_root
from ..utils.scalars import logged_wall_time
from .kd_gain import METRIC, compare_records, kd_diagnostics, run_result, summarise_ratio
from .kd_gain_readme import update_readme
from .kd_gain_report import format_interval, write_report
from .protocol import confirmatory_status, flat_runs, protocol_info, registration
from .seed_extension import extension_seeds

__all__ = ['DEFAULT_METHODS', 'NUM_TRAIN', 'NUM_VAL', 'TITLE', 'ZOO_RECORD', 'parse_methods',
           'needs_teacher', 'load_teacher', 'pool_eta', 'run_pool', 'render', 'compare',
           'hashes', 'check_schedule', 'run', 'run_extended']

REPO = checkout_root()
SIM = 'configs/sim/'
DEFAULT_METHODS = {
    '16x': {
        'student': SIM + 'pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
        'pointdistiller':
            SIM + 'pointdistiller_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
    },
    '4x': {
        'student': SIM + 'pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
        'pointdistiller':
            SIM + 'pointdistiller_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
    },
}
NUM_TRAIN, NUM_VAL = 1500, 300
TITLE = 'Distillation gain on the simulated KITTI-format dataset (paired seeds)'


def parse_methods(items: List[str], need_student: bool = True) -> Dict[str, str]:
    """``['name=config', ...]`` -> ordered ``{name: config}`` (paths relative to the repo)."""
    methods: Dict[str, str] = {}
    for item in items:
        name, sep, config = item.partition('=')
        if not sep or not name:
            raise SystemExit(f'--methods entries are name=config, got {item!r}')
        if not name.replace('_', '').replace('-', '').isalnum():
            raise SystemExit(f'--methods: bad method name {name!r} (letters, digits, -, _)')
        if name in methods:
            raise SystemExit(f'--methods: name {name!r} is given twice')
        if not (REPO / config).is_file():
            raise SystemExit(f'--methods {name}: config {config} does not exist')
        methods[name] = config
    if need_student and 'student' not in methods:
        raise SystemExit('--methods needs a student=<config> entry (the reference of every '
                         'paired gain)')
    return methods


def needs_teacher(config: str) -> bool:
    """Whether ``config``'s model is a distiller that loads a teacher checkpoint."""
    model = Config.fromfile(str(REPO / config)).model
    return model.get('type') == 'PointDistillerDetector' and model.get('distill', True)


def load_teacher(record_path: str) -> dict:
    """The shipped teacher's zoo record (``tools/train_sim_zoo.py`` writes it)."""
    path = REPO / record_path
    if not path.is_file():
        raise SystemExit(f'teacher record {record_path} not found: train and ship the teacher '
                         f'with `python tools/train_sim_zoo.py teacher-ft` first')
    zoo = json.loads(path.read_text())
    return dict(config=zoo['config'], checkpoint=zoo['checkpoint'], sha256=zoo['sha256'],
                map_3d=zoo['map_3d'], map_bev=zoo['map_bev'],
                car_3d_moderate=zoo['ap']['3D']['Car']['moderate'],
                car_bev_moderate=zoo['ap']['BEV']['Car']['moderate'], ap=zoo['ap'],
                val_frames=zoo['val_frames'])


def pool_eta(running_etas: Sequence[Optional[float]], queued: int,
             run_seconds: Optional[float], size: int) -> Optional[float]:
    """Seconds until the last job of a pool of ``size`` slots ends: each running job's slot
    frees after its ETA, then the ``queued`` jobs (``run_seconds`` each) go to the slot that
    frees first. None while a running job's ETA, or (with jobs queued) the run time, is
    unknown.

    >>> pool_eta([600.0, 1800.0], queued=3, run_seconds=2400.0, size=2)
    5400.0
    """
    if any(e is None for e in running_etas) or (queued and run_seconds is None):
        return None
    slots = sorted(running_etas) + [0.0] * max(0, size - len(running_etas))
    if not slots:
        return 0.0
    for _ in range(queued):
        slots[0] += run_seconds
        slots.sort()
    return max(slots)


def run_pool(jobs: list, size: int, progress, on_done, entry: dict,
             poll_s: float = 2.0) -> None:
    """Run ``jobs`` (``TrainJob``s, in order) with at most ``size`` at a time: a free slot
    takes the next job as soon as a run ends (a student-only run ends before its distilled
    twin), and ``on_done(job)`` runs after each one (the record is rewritten there).
    ``entry['wall_time_s']`` accumulates the wall time during which runs were training.

    The ETA is :func:`pool_eta`'s: the running runs' own ETAs, then the queued runs at the
    mean time of the runs this pool trained from scratch (before one has finished, the
    running runs' whole-run estimates); a resumed run's earlier part does not make the queue
    look further along than it is."""
    queue, running, finished, done = list(jobs), [], [], 0
    lock = threading.Lock()
    last = [0.0]

    def report(_job=None):
        with lock:
            now = time.perf_counter()
            if now - last[0] < 30.0:
                return
            last[0] = now
            frac = (done + sum(j.frac for j in running)) / max(1, len(jobs))
            whole = ([j.seconds for j in finished if j.mode == 'new']
                     or [j.run_seconds for j in running if j.run_seconds is not None])
            eta = pool_eta([j.eta for j in running], len(queue),
                           sum(whole) / len(whole) if whole else None, size)
            progress.update(frac, '; '.join(f'{j.name}: {j.status}' for j in running),
                            stage_eta=eta)

    t_busy = time.perf_counter()
    while queue or running:
        while queue and len(running) < size:
            job = queue.pop(0)
            progress.print(f'  start {job.name}: ' + ' '.join(
                [Path(job.command()[0]).name] + job.command()[1:]) + f'  (log {job.log_path})')
            job.start(report)
            running.append(job)
        time.sleep(poll_s)
        for job in [j for j in running if j.proc.poll() is not None]:
            job.wait()  # raises with the log tail if the run failed
            running.remove(job)
            finished.append(job)
            done += 1
            entry['wall_time_s'] += time.perf_counter() - t_busy
            t_busy = time.perf_counter()
            on_done(job)
            progress.print(f'  finished {job.name} in {job.seconds:.0f} s ({done}/{len(jobs)})')
    entry['wall_time_s'] += time.perf_counter() - t_busy


def write_record(rec: dict, out_json: Path) -> None:
    """:func:`write_report`, and where ``out_json`` is this checkout's reporting record
    (``benchmarks/kd_gain_sim.json``) the README's generated block about it
    (:mod:`.kd_gain_readme`), so that the two change together."""
    write_report(rec, out_json)
    if Path(out_json).resolve() == (REPO / KD_GAIN_RECORD).resolve() and \
            update_readme(rec, REPO / 'README.md'):
        print(f'rewrote the reporting-record block of README.md from {KD_GAIN_RECORD}',
              flush=True)


def render(record: str) -> int:
    """Recompute every ratio's statistics and the confirmatory label from the record's per-run
    values and rewrite its ``.md`` and ``.png`` (no training; the record's runs, commands and
    protocol commit are kept; a protocol without its registration commit gets it from git)."""
    path = Path(record)
    if not path.is_file():
        raise SystemExit(f'--render: {record} not found')
    rec = json.loads(path.read_text())
    if 'ratios' not in rec or 'teacher' not in rec:
        raise SystemExit(f'--render: {record} is not a paired-seed (v2) record')
    for entry in rec['ratios'].values():
        summarise_ratio(entry, rec['teacher']['map_3d'])
    proto = rec.get('protocol')
    if proto:  # records written before the registration was kept get it from git, if here
        if 'registered_at' not in proto and (REPO / proto['file']).is_file():
            proto.update(registration(proto['file'], REPO))
        rec['runs'] = flat_runs(rec)
        rec['confirmatory'] = confirmatory_status(proto, rec['runs'])
    write_record(rec, path)
    print(f'rendered {path.with_suffix(".md")} from {path}')
    return 0


def compare(paths: List[str], ratio: str, method: str) -> int:
    """Print the paired difference B - A of ``method``'s runs in two records ``paths``
    (e.g. one KD config with two teachers)."""
    recs = []
    for path in paths:
        if not Path(path).is_file():
            raise SystemExit(f'--compare: {path} not found')
        recs.append(json.loads(Path(path).read_text()))
    try:
        out = compare_records(*recs, ratio, method)
    except ValueError as e:
        raise SystemExit(f'--compare: {e}')
    a, b = paths
    print(f'{method} at {ratio}, paired by seed ({out["seeds"]}): B - A with\n'
          f'  A = {a} (teacher {out["teachers"][0]})\n'
          f'  B = {b} (teacher {out["teachers"][1]})')
    for key, label in (('map_3d', '3D mAP'), ('map_bev', 'BEV mAP'),
                       ('car_3d_moderate', 'Car 3D@0.7')):
        g = out[key]
        print(f'  {label}: {format_interval(g)}; per seed '
              + ', '.join(f'{d:+.2f}' for d in g['diffs']))
    return 0


def hashes(argv: List[str]) -> int:
    """``--hashes name=config ...``: print the SHA-1 of each fully resolved config (no
    ``--cfg-options``; data root and repository as placeholders), for a protocol's arm table."""
    methods = parse_methods(argv, need_student=False)
    env = subprocess_env(REPO / 'data/sim_kitti', 1)
    print('| arm | config | resolved-config SHA-1 |\n|---|---|---|')
    for name, config in methods.items():
        print(f'| {name} | `{config}` | `{config_hash(config, [], env)}` |')
    return 0


def check_schedule(seeds: List[int], jobs: int, threads: int, iters: int, evals: int) -> None:
    """Refuse duplicate seeds, non-positive counts, and ``iters`` not a multiple of ``evals``.

    Raises:
        SystemExit: naming the option.
    """
    if len(set(seeds)) != len(seeds):
        raise SystemExit(f'--seeds has duplicates: {seeds}')
    if min(jobs, threads, iters, evals) < 1:
        raise SystemExit('--jobs, --threads, --iters and --evals must be >= 1')
    if iters % evals:
        raise SystemExit(f'--iters {iters} is not a multiple of --evals {evals}: '
                         f'the last validation must fall on the last iteration')


def run(args: Namespace, command: str) -> int:
    """Train (or reuse) every run of ``args`` (``tools/benchmark_kd_gain.py``'s options) and
    rewrite the record after each; ``command`` is stored in it."""
    if args.methods:
        methods = parse_methods(args.methods)
    elif args.ratio in DEFAULT_METHODS:
        methods = dict(DEFAULT_METHODS[args.ratio])
    else:
        raise SystemExit(f'--ratio {args.ratio} has no default methods; pass --methods')
    check_schedule(args.seeds, args.jobs, args.threads, args.iters, args.evals)
    teacher = load_teacher(args.teacher_record)
    try:
        protocol = protocol_info(args.protocol, REPO) if args.protocol else None
    except ValueError as e:
        raise SystemExit(f'--protocol: {e}')
    out = REPO / args.out
    out_json = out.with_suffix('.json')
    rec = json.loads(out_json.read_text()) if out_json.is_file() else {}
    if rec and 'ratios' not in rec:
        raise SystemExit(f'{out_json} is not a paired-seed (v2) record; move it away first')
    budget = dict(iters=args.iters, batch_size=args.batch_size)
    if args.evals > 1:  # (records made with one validation per run have no 'evals' key)
        budget['evals'] = args.evals
    if rec.get('budget') not in (None, budget) or rec.get('teacher', {}).get(
            'sha256') not in (None, teacher['sha256']):
        raise SystemExit(f'{out_json} was made with another budget or teacher '
                         f'({rec.get("budget")}, {rec.get("teacher", {}).get("sha256")}); '
                         f'use another --out')
    rec.update(title=args.title or rec.get('title', TITLE),
               teacher={k: v for k, v in teacher.items() if k not in ('ap', 'val_frames')},
               metric=METRIC, val_frames=args.num_val, train_frames=args.num_train,
               data_seed=0, budget=budget)
    if args.note is not None:
        rec['note'] = args.note
    if protocol:
        rec['protocol'] = protocol
    entry = rec.setdefault('ratios', {}).get(args.ratio, {})
    old_runs = entry.get('runs', {})
    entry = dict(methods=methods, seeds=list(args.seeds), runs={}, command=command,
                 wall_time_s=entry.get('wall_time_s', 0.0), threads=args.threads,
                 jobs=args.jobs, machine=machine_description())
    rec['ratios'][args.ratio] = entry

    root = (REPO / args.data_root).resolve()
    env = subprocess_env(root, args.threads)
    work = (REPO / args.work_dir).resolve() / args.ratio

    def run_estimate(n: int) -> float:  # seconds for n runs on this machine's 2 cores
        return n * (60 * args.evals + 0.6 * args.iters) / args.jobs
    progress = Progress(dict(data=200.0, runs=run_estimate(len(methods) * len(args.seeds))),
                        label=f'kd-gain {args.ratio}')
    progress.start('data', f'dataset {root} ({args.num_train} train / {args.num_val} val '
                           f'frames)')
    b = Budget(num_train=args.num_train, num_val=args.num_val, teacher_iters=0,
               student_iters=args.iters,
               evals=args.evals, batch_size=args.batch_size)
    ensure_dataset(root, b, 0, False, progress, workers=2)

    jobs, recorded = [], []
    for seed in args.seeds:
        for name, config in methods.items():
            extra = [f"model.teacher_ckpt={teacher['checkpoint']}"] if needs_teacher(
                config) else []
            job = TrainJob(f'{name}_seed{seed}', config, work / name / f'seed_{seed}',
                           args.iters, args.evals, seed, env, force=args.force,
                           extra_options=extra,
                           batch_size=args.batch_size)
            job.method, job.seed = name, seed
            old = old_runs.get(name, {}).get(str(seed))
            if job.ran and not args.force and old and old.get('config_hash') == \
                    job.config_hash and old.get('options') == job.options:
                entry['runs'].setdefault(name, {})[str(seed)] = old
                recorded.append(job.name)
                continue
            jobs.append(job)

    def collect(job) -> None:
        res = run_result(str(job.work_dir), job.iters, curve=args.evals > 1)
        # seconds: every training process of the run (a resumed run has several)
        wall = logged_wall_time(job.work_dir)
        res.update(config_hash=job.config_hash, options=job.options,
                   seconds=wall if wall == wall else job.seconds,
                   started_at=job.started_at, kd=kd_diagnostics(str(job.work_dir)))
        entry['runs'].setdefault(job.method, {})[str(job.seed)] = res

    def write() -> None:
        summarise_ratio(entry, teacher['map_3d'])
        entry['runs'] = {m: dict(sorted(r.items(), key=lambda kv: int(kv[0])))
                         for m, r in entry['runs'].items()}
        rec['wall_time_s'] = sum(e.get('wall_time_s', 0.0) for e in rec['ratios'].values())
        rec['command'] = ' && '.join(e['command'] for e in rec['ratios'].values())
        rec['runs'] = flat_runs(rec)
        if rec.get('protocol'):
            rec['confirmatory'] = confirmatory_status(rec['protocol'], rec['runs'])
        write_record(rec, out_json)

    for job in jobs:
        if not job.ran:  # finished in its work dir
            collect(job)
    pending = [j for j in jobs if j.ran]
    progress.print(f'kd-gain {args.ratio}: {len(methods)} method(s) x seeds {args.seeds}; '
                   f'{len(recorded)} run(s) taken from the record, '
                   f'{len(jobs) - len(pending)} reused from work dirs, {len(pending)} to train')
    write()
    progress.estimates['runs'] = run_estimate(len(pending))  # only what is left to train
    progress.start('runs', f'{len(pending)} run(s), {args.jobs} at a time')
    t0 = time.perf_counter()
    run_pool(pending, args.jobs, progress, on_done=lambda job: (collect(job), write()),
             entry=entry)
    progress.finish()
    write()
    progress.print(out.with_suffix('.md').read_text())
    progress.print(f'wrote {out.with_suffix(".md")} and {out_json} '
                   f'({fmt_seconds(time.perf_counter() - t0)} of training in this call)')
    return 0


def run_extended(args: Namespace, command: str, train=None) -> int:
    """:func:`run`, then, with ``args.until_half_width``, the protocol's seed extension: while
    the headline arm's 95 % half-width over the finished seeds exceeds it and fewer than
    ``args.max_seeds`` seeds ran, the seeds certain to run under the rule
    (:func:`~mmdet3d_pointdistiller.experiments.seed_extension.extension_seeds`) are added and
    trained together. ``command`` (stored in the record) is the whole extension's.
    ``train`` replaces :func:`run` (tests)."""
    train = train or run
    target = getattr(args, 'until_half_width', None)
    if target is not None:
        if target <= 0:
            raise SystemExit(f'--until-half-width must be positive, got {target}')
        if len(args.seeds) < 2 or args.max_seeds < len(args.seeds):
            raise SystemExit(f'--until-half-width needs >= 2 --seeds and --max-seeds >= their '
                             f'number (got {len(args.seeds)} seeds, --max-seeds '
                             f'{args.max_seeds})')
    rc = train(args, command)
    while rc == 0 and target is not None:
        out_json = (REPO / args.out).with_suffix('.json')
        gain = json.loads(out_json.read_text())['ratios'][args.ratio].get('paired_gain') or {}
        if gain.get('seeds') != sorted(args.seeds):
            raise SystemExit(f'{out_json}: the headline arm has paired runs for seeds '
                             f'{gain.get("seeds")}, not {sorted(args.seeds)}; the extension '
                             'decides on complete seeds only')
        half = (gain['ci95'][1] - gain['ci95'][0]) / 2
        more = extension_seeds(args.seeds, gain['diffs'], target, args.max_seeds)
        if not more:
            why = (f'within {target}' if half <= target else
                   f'above {target}, but --max-seeds {args.max_seeds} seeds ran')
            print(f'[seed extension] half-width {half:.2f} with {len(args.seeds)} seeds, '
                  f'{why}: done', flush=True)
            return 0
        print(f'[seed extension] half-width {half:.2f} > {target} with {len(args.seeds)} '
              f'seeds: seeds {more} run whatever they give (the lower bound of the half-width '
              f'stays above {target} until {len(args.seeds) + len(more) - 1} seeds)', flush=True)
        args.seeds = list(args.seeds) + more
        rc = train(args, command)
    return rc
