"""The one-command quickstart: simulate -> convert -> teacher -> student with and without
PointDistiller -> KittiMetric table with params, GFLOPs and CPU latency -> pictures.

Every training stage is a real ``mim train mmdet3d <config>`` subprocess (the path a user
takes), with the budget given as ``--cfg-options``. Each stage leaves a marker file with the
options it ran with; a re-run skips finished stages whose options (and upstream stages) did not
change, resumes an interrupted training from its ``last_checkpoint``, and ``force`` redoes
everything but the dataset.

The CLI is ``tools/quickstart.py``; :func:`run_quickstart` is the importable entry point.
"""
from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[2]
CONFIGS = {
    # the plain sim PointPillars: the shipped zoo teacher loads into it
    'teacher': 'configs/sim/pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
    'student': 'configs/sim/pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
    'pointdistiller':
        'configs/sim/pointdistiller_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
}
#: ``--train-teacher``: the zoo teacher's own schedule (tools/train_sim_zoo.py)
TEACHER_TRAIN_CONFIG = 'configs/sim/pointpillars_hv_secfpn_1xb4-3000it-cpu_sim-kitti-3d-3class.py'
#: the shipped zoo teacher and its record (KittiMetric on the zoo's 1500 / 300-frame dataset)
ZOO_TEACHER = 'checkpoints/sim/pointpillars_hv_secfpn_1xb4-3000it_sim-kitti-3d-3class_fp16.pth'
ZOO_RECORD = 'checkpoints/sim/pointpillars_hv_secfpn_1xb4-3000it_sim-kitti-3d-3class.json'
KD_GAIN_RECORD = 'benchmarks/kd_gain_sim.json'
DISPLAY = {'teacher': 'PointPillars teacher (sim model zoo)',
           'student': 'PointPillars 16× (student only)',
           'pointdistiller': 'PointPillars 16× + PointDistiller'}
STAGES = ('data', 'teacher', 'students', 'evaluate', 'pictures', 'summary')
MARKER = 'quickstart_stage.json'

__all__ = ['Budget', 'BUDGETS', 'CONFIGS', 'STAGES', 'Progress', 'TrainJob', 'budget_cfg_options',
           'run_quickstart', 'run_train_jobs', 'ensure_dataset', 'fmt_seconds']


@dataclass
class Budget:
    """Sizes of one quickstart run.

    Attributes:
        num_train / num_val: simulated frames per split.
        teacher_iters / student_iters: training iterations (batch ``batch_size``); both
            students (with and without distillation) get ``student_iters``.
        evals: validations per training run (evenly spaced, the last at the end).
        vis_frames: validation frames drawn per model; latency_frames: frames timed.
    """
    num_train: int
    num_val: int
    teacher_iters: int
    student_iters: int
    evals: int = 2
    vis_frames: int = 3
    latency_frames: int = 10
    batch_size: int = 2


#: ``full`` is the README's quickstart (measured wall time in benchmarks and README);
#: ``tiny`` is the miniature run of tests/test_quickstart.py.
BUDGETS: Dict[str, Budget] = {
    'tiny': Budget(num_train=6, num_val=3, teacher_iters=4, student_iters=4, evals=1,
                   vis_frames=1, latency_frames=2),
    'small': Budget(num_train=120, num_val=30, teacher_iters=200, student_iters=200, evals=2,
                    vis_frames=2, latency_frames=5),
    # the zoo dataset and the KD-gain benchmark's student budget (benchmarks/kd_gain_sim)
    'full': Budget(num_train=1500, num_val=300, teacher_iters=3000, student_iters=600, evals=1,
                   vis_frames=3, latency_frames=10),
}

# Seconds per unit on the 2-core development machine (1 torch thread, other jobs running);
# only used for the ETA, which is rescaled by the measured speed after every stage.
_COST = dict(sim_frame=0.025, convert_fixed=20.0, convert_frame=0.07, startup=40.0,
             teacher_iter=1.2, student_iter=0.45, pointdistiller_iter=0.75, val_frame=0.08,
             evaluate_fixed=20.0, evaluate_frame=1.0, picture=4.0, summary=1.0)


def fmt_seconds(sec: float) -> str:
    """``75`` -> ``'1m15s'``."""
    sec = max(0, int(round(sec)))
    h, rem = divmod(sec, 3600)
    m, s = divmod(rem, 60)
    return f'{h}h{m:02d}m{s:02d}s' if h else (f'{m}m{s:02d}s' if m else f'{s}s')


class Progress:
    """Stage i/N, elapsed time and ETA (per stage and overall) on stdout.

    The overall ETA is the sum of the remaining stages' estimates, each scaled by the ratio of
    measured to estimated time of the stages finished so far (the machine's speed).
    """

    def __init__(self, estimates: Dict[str, float], stream=None,
                 label: str = 'quickstart') -> None:
        self.label = label
        self.estimates = dict(estimates)
        self.names = list(estimates)
        self.t0 = time.perf_counter()
        self.stage_t0 = self.t0
        self.current: Optional[str] = None
        self.spent_est = 0.0
        self.spent_real = 0.0
        self.stream = stream or sys.stdout
        self.times: Dict[str, float] = {}
        self.skipped: List[str] = []

    @property
    def speed(self) -> float:
        if self.spent_est < 5.0:
            return 1.0
        return min(5.0, max(0.2, self.spent_real / self.spent_est))

    def _remaining_after_current(self) -> float:
        if self.current is None:
            return 0.0
        i = self.names.index(self.current)
        return sum(self.estimates[n] for n in self.names[i + 1:]) * self.speed

    def print(self, msg: str) -> None:
        print(msg, file=self.stream, flush=True)

    def start(self, name: str, what: str) -> None:
        self.current = name
        self.stage_t0 = time.perf_counter()
        i = self.names.index(name) + 1
        eta = self.estimates[name] * self.speed + self._remaining_after_current()
        self.print(f'[{self.label} {i}/{len(self.names)}] {what} | elapsed '
                   f'{fmt_seconds(time.perf_counter() - self.t0)}, ETA {fmt_seconds(eta)}')

    def update(self, frac: float, msg: str, stage_eta: Optional[float] = None) -> None:
        """Report progress ``frac`` in [0, 1] of the current stage (``stage_eta``: seconds
        left in it when the caller knows better than a linear extrapolation of ``frac``)."""
        stage_el = time.perf_counter() - self.stage_t0
        if stage_eta is None:
            if frac > 0.02 and stage_el > 1.0:
                stage_eta = stage_el * (1.0 - frac) / frac
            else:
                stage_eta = max(0.0, self.estimates[self.current] * self.speed - stage_el)
        total_eta = stage_eta + self._remaining_after_current()
        i = self.names.index(self.current) + 1
        self.print(f'[{self.label} {i}/{len(self.names)} {self.current}] {msg} | stage '
                   f'{fmt_seconds(stage_el)}, ETA {fmt_seconds(stage_eta)} | total '
                   f'{fmt_seconds(time.perf_counter() - self.t0)}, ETA {fmt_seconds(total_eta)}')

    def finish(self, skipped: bool = False, note: str = '') -> float:
        el = time.perf_counter() - self.stage_t0
        name = self.current
        self.times[name] = el
        if skipped:
            self.skipped.append(name)
            self.estimates[name] = 0.0
        else:
            self.spent_est += self.estimates[name]
            self.spent_real += el
        i = self.names.index(name) + 1
        self.print(f'[{self.label} {i}/{len(self.names)} {name}] '
                   f'{"reused (already done)" if skipped else "done"} in {fmt_seconds(el)}'
                   f'{"; " + note if note else ""} | total '
                   f'{fmt_seconds(time.perf_counter() - self.t0)}, ETA '
                   f'{fmt_seconds(self._remaining_after_current())}')
        return el

    def total(self) -> float:
        return time.perf_counter() - self.t0


def estimate_seconds(b: Budget, parallel: bool = True,
                     train_teacher: bool = True) -> Dict[str, float]:
    """A-priori seconds of every stage for budget ``b`` (see ``_COST``)."""
    c = _COST
    frames = b.num_train + b.num_val
    val = b.evals * b.num_val * c['val_frame']
    scale = b.batch_size / 2
    student = c['startup'] + b.student_iters * c['student_iter'] * scale + val
    kd = c['startup'] + b.student_iters * c['pointdistiller_iter'] * scale + val
    return dict(
        data=frames * c['sim_frame'] + c['convert_fixed'] + frames * c['convert_frame'],
        teacher=(c['startup'] + b.teacher_iters * c['teacher_iter'] * scale + val
                 if train_teacher else 1.0),
        # two processes on two cores: the longer one, slowed a little by the other
        students=max(student, kd) * 1.15 if parallel else student + kd,
        evaluate=c['evaluate_fixed'] + b.latency_frames * c['evaluate_frame'],
        pictures=3 * b.vis_frames * c['picture'] + 3.0,
        summary=c['summary'])


# ----------------------------------------------------------------------------- helpers
def _read_json(path: Path) -> Optional[dict]:
    if not path.is_file():
        return None
    with open(path) as f:
        return json.load(f)


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + '.tmp')
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _mim() -> str:
    mim = Path(sys.executable).with_name('mim')
    return str(mim) if mim.exists() else 'mim'


def subprocess_env(data_root: Path, threads: int) -> Dict[str, str]:
    """Environment of the ``mim`` subprocesses: data root, thread count, repo on the path."""
    env = dict(os.environ)
    env['PD_SIM_KITTI'] = str(Path(data_root).resolve()) + '/'
    env['OMP_NUM_THREADS'] = str(threads)
    env['MKL_NUM_THREADS'] = str(threads)
    env['PYTHONPATH'] = os.pathsep.join([str(REPO)] + (
        [env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    return env


def budget_cfg_options(iters: int, evals: int, seed: int, batch_size: int = 2) -> List[str]:
    """``--cfg-options`` that give a sim config an ``iters``-iteration budget.

    Warm-up ``min(50, iters // 6)`` iterations then cosine to the end, ``evals`` validations
    (and checkpoints) evenly spaced with the last at ``iters``, a log line every
    ``min(10, iters // 20)`` iterations, training seed ``seed``.
    """
    if iters < 1 or evals < 1:
        raise ValueError(f'iters and evals must be >= 1, got {iters}, {evals}')
    warm = max(1, min(50, iters // 6))
    interval = max(1, -(-iters // evals))
    log = max(1, min(10, iters // 20))
    return [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={interval}',
            f'default_hooks.checkpoint.interval={interval}',
            f'default_hooks.logger.interval={log}', f'log_processor.window_size={log}',
            f'param_scheduler.0.end={warm}', f'param_scheduler.1.begin={warm}',
            f'param_scheduler.1.end={iters}', f'param_scheduler.1.T_max={max(1, iters - warm)}',
            f'train_dataloader.batch_size={batch_size}', f'randomness.seed={seed}']


# ----------------------------------------------------------------------------- stages
def dataset_ready(root: Path, b: Budget) -> Tuple[bool, str]:
    """Whether ``root`` holds a converted dataset with ``b``'s split sizes."""
    need = ['kitti_infos_train.pkl', 'kitti_infos_val.pkl', 'kitti_dbinfos_train.pkl',
            'ImageSets/train.txt', 'ImageSets/val.txt']
    missing = [n for n in need if not (root / n).is_file()]
    if missing:
        return False, f'missing {missing}'
    sizes = {s: len((root / f'ImageSets/{s}.txt').read_text().split()) for s in ('train', 'val')}
    if sizes != {'train': b.num_train, 'val': b.num_val}:
        return False, (f'split sizes {sizes} differ from the budget\'s '
                       f"{{'train': {b.num_train}, 'val': {b.num_val}}}")
    return True, f'{sizes["train"]} train + {sizes["val"]} val frames'


def ensure_dataset(root: Path, b: Budget, seed: int, force: bool, progress: Progress,
                   workers: int = 1) -> bool:
    """Simulate + convert into ``root`` unless a matching dataset is there. Returns True if
    the dataset was (re)built."""
    ok, why = dataset_ready(root, b)
    stamp = _read_json(root / 'quickstart_dataset.json')
    if ok and stamp is not None and stamp.get('seed') != seed:
        ok, why = False, f"simulator seed {stamp.get('seed')} differs from --data-seed {seed}"
    elif ok and stamp is None and seed != 0 and not force:
        raise SystemExit(f'{root} holds a dataset of unknown simulator seed (not written by the '
                         f'quickstart); pass --force-data to rebuild it with --data-seed {seed}')
    if ok and not force:
        progress.finish(skipped=True, note=f'{root}: {why}')
        return False
    if root.exists() and any(root.iterdir()) and not force and stamp is None:
        raise SystemExit(f'{root} exists but is not a quickstart dataset of this budget ({why}); '
                         f'pass --force-data to overwrite it or --data-root to use another '
                         f'folder')
    from mmdet3d_pointdistiller.sim import LidarSpec, generate_dataset
    if root.exists() and stamp is not None:
        shutil.rmtree(root)  # a quickstart dataset of another size: rebuild from scratch
    progress.update(0.0, f'simulating {b.num_train} + {b.num_val} frames into {root}')
    stats = generate_dataset(root, b.num_train, b.num_val, seed=seed, spec=LidarSpec(),
                             workers=workers, progress=False)
    progress.update(0.3, f"simulated {stats['frames']} frames in {stats['seconds']:.0f} s; "
                         f'running mmdet3d\'s converter (create_data kitti --with-plane)')
    from mmdet3d_pointdistiller.sim import mmdet3d_mim_root
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [mmdet3d_mim_root()] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    log = root / 'create_data.log'
    with open(log, 'w') as f:
        proc = subprocess.run([_mim(), 'run', 'mmdet3d', 'create_data', 'kitti', '--root-path',
                               str(root), '--out-dir', str(root), '--extra-tag', 'kitti',
                               '--with-plane'], env=env, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f'mmdet3d create_data failed (exit {proc.returncode}), see {log}:\n'
                           + ''.join(open(log).readlines()[-30:]))
    ok, why = dataset_ready(root, b)
    if not ok:
        raise RuntimeError(f'the converter ran but {root} is incomplete: {why}; see {log}')
    _write_json(root / 'quickstart_dataset.json',
                dict(seed=seed, num_train=b.num_train, num_val=b.num_val))
    progress.finish(note=f'{root}: {why}')
    return True


_ITER_RE = re.compile(r'Iter\((train|val)\)\s*\[\s*(\d+)/(\d+)\]')
_LOSS_RE = re.compile(r'\b(loss(?:_pd_\w+)?): ([0-9.]+)')


def config_hash(config: str, options: Sequence[str], env: Dict[str, str]) -> str:
    """SHA-1 of the fully resolved config (inheritance, ``--cfg-options``, the data root of
    ``env``), so that editing a config file invalidates the runs trained with it.

    Portable: the repository's and the data root's absolute paths are replaced by
    placeholders before hashing, so the same run hashes alike in another checkout (recorded
    benchmark runs are matched by it)."""
    import hashlib

    from mmengine.config import Config, DictAction
    path = Path(config) if Path(config).is_absolute() else REPO / config
    old = os.environ.pop('PD_SIM_KITTI', None)
    if env.get('PD_SIM_KITTI'):
        os.environ['PD_SIM_KITTI'] = env['PD_SIM_KITTI']
    try:
        cfg = Config.fromfile(str(path))
    finally:
        os.environ.pop('PD_SIM_KITTI', None)
        if old is not None:
            os.environ['PD_SIM_KITTI'] = old
    cfg.merge_from_dict({k: DictAction._parse_iterable(v) for k, v in
                         (o.split('=', 1) for o in options)})
    text = cfg.pretty_text
    if env.get('PD_SIM_KITTI'):
        text = text.replace(env['PD_SIM_KITTI'].rstrip('/'), '<data_root>')
    text = text.replace(str(REPO), '<repo>')
    return hashlib.sha1(text.encode()).hexdigest()


class TrainJob:
    """One ``mim train mmdet3d <config>`` run with an ``iters`` budget (reused, resumed or new).

    Its marker file ``<work_dir>/quickstart_stage.json`` records the config and the
    ``--cfg-options``; a finished run with the same ones is reused (unless ``force``), an
    unfinished one with the same ones is resumed from ``last_checkpoint``, anything else is
    trained from scratch in an emptied work dir.
    """

    def __init__(self, name: str, config: str, work_dir: Path, iters: int, evals: int,
                 seed: int, env: Dict[str, str], force: bool = False,
                 extra_options: Sequence[str] = (), batch_size: int = 2,
                 budget: bool = True) -> None:
        # budget=False: the config's own schedule (``iters`` must be its max_iters), only the
        # seed is set
        self.name, self.config, self.work_dir = name, config, Path(work_dir)
        self.iters, self.env = iters, env
        self.options = (budget_cfg_options(iters, evals, seed, batch_size) if budget else
                        [f'randomness.seed={seed}']) + list(extra_options)
        self.config_hash = config_hash(config, self.options, env)
        self.ckpt = self.work_dir / f'iter_{iters}.pth'
        self.log_path = self.work_dir / 'quickstart_train.log'
        marker = _read_json(self.work_dir / MARKER)
        same = marker is not None and marker.get('config') == config and \
            marker.get('cfg_options') == self.options and \
            marker.get('config_hash') == self.config_hash
        if same and marker.get('finished') and self.ckpt.is_file() and not force:
            self.mode = 'reuse'
        elif same and not force and (self.work_dir / 'last_checkpoint').is_file():
            self.mode = 'resume'
        else:
            if self.work_dir.exists() and marker is None and any(self.work_dir.iterdir()):
                raise SystemExit(f'{self.work_dir} exists and was not written by the '
                                 f'quickstart; remove it or choose another --work-dir')
            self.mode = 'new'
        self.seconds = marker.get('seconds') if self.mode == 'reuse' else None
        self.frac = 1.0 if self.mode == 'reuse' else 0.0
        self.status = 'reused' if self.mode == 'reuse' else 'waiting'
        self.proc: Optional[subprocess.Popen] = None
        self.tail: List[str] = []
        self.evals = evals
        self.eta: Optional[float] = None  # seconds left, from the measured iteration rate
        self._first = None
        self._val_t0 = 0.0
        self._val_seconds = 0.0
        self._vals_done = 0
        self._t0 = 0.0
        self._thread = None

    @property
    def ran(self) -> bool:
        return self.mode != 'reuse'

    def command(self) -> List[str]:
        cmd = [_mim(), 'train', 'mmdet3d', str(REPO / self.config), '--work-dir',
               str(self.work_dir)]
        if self.mode == 'resume':
            cmd.append('--resume')
        return cmd + ['--cfg-options', *self.options]

    def start(self, on_event: Callable[['TrainJob'], None]) -> None:
        """Start the subprocess; a reader thread parses its log and calls ``on_event``."""
        import threading
        if self.mode == 'new' and self.work_dir.exists():
            shutil.rmtree(self.work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        _write_json(self.work_dir / MARKER,
                    dict(config=self.config, cfg_options=self.options, finished=False,
                         config_hash=self.config_hash))
        self._t0 = time.perf_counter()
        self.status = 'starting' + (' (resume)' if self.mode == 'resume' else '')
        self.proc = subprocess.Popen(self.command(), cwd=REPO, env=self.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)
        self._thread = threading.Thread(target=self._read, args=(on_event, ), daemon=True)
        self._thread.start()

    def _read(self, on_event) -> None:
        with open(self.log_path, 'a') as log:
            for line in self.proc.stdout:
                log.write(line)
                self.tail = (self.tail + [line])[-80:]
                m = _ITER_RE.search(line)
                if not m:
                    continue
                kind, i, n = m.group(1), int(m.group(2)), int(m.group(3))
                if kind == 'train':
                    now = time.perf_counter()
                    if self._first is None:
                        self._first = (now, i)
                    elif i > self._first[1]:
                        rate = (now - self._first[0]) / (i - self._first[1])
                        # + the validations still to come, at the observed validation speed
                        self.eta = rate * (self.iters - i) + self._val_seconds * (
                            self.evals - self._vals_done)
                    self.frac = i / self.iters * 0.95
                    losses = ', '.join(f'{k} {v}' for k, v in _LOSS_RE.findall(line))
                    self.status = f'iter {i}/{n} {losses}'
                else:
                    now = time.perf_counter()
                    if i == 1:
                        self._val_t0 = now
                    elif i == n:
                        self._vals_done += 1
                        self._val_seconds = max(self._val_seconds, now - self._val_t0)
                    self.status = f'validation {i}/{n}'
                on_event(self)

    def wait(self) -> None:
        """Wait for the subprocess; check the checkpoint; mark the run finished."""
        rc = self.proc.wait()
        self._thread.join()
        if rc != 0:
            raise RuntimeError(f'{self.name}: mim train failed (exit {rc}); log '
                               f'{self.log_path}; last lines:\n' + ''.join(self.tail[-40:]))
        if not self.ckpt.is_file():
            raise RuntimeError(f'{self.name}: training finished but {self.ckpt} is missing; '
                               f'log {self.log_path}')
        self.seconds = time.perf_counter() - self._t0
        _write_json(self.work_dir / MARKER, dict(
            config=self.config, cfg_options=self.options, finished=True, seconds=self.seconds,
            resumed=self.mode == 'resume', config_hash=self.config_hash))
        self.frac, self.status = 1.0, f'done in {fmt_seconds(self.seconds)}'


def run_train_jobs(jobs: Sequence[TrainJob], progress: Progress, parallel: bool) -> None:
    """Run the jobs that are not reused (all at once if ``parallel``) with combined progress."""
    import threading
    todo = [j for j in jobs if j.ran]
    if not todo:
        progress.finish(skipped=True, note=', '.join(str(j.ckpt) for j in jobs))
        return
    lock = threading.Lock()

    def report(_job=None):
        with lock:
            frac = sum(j.frac for j in todo) / len(todo)
            etas = [j.eta for j in todo if j.frac < 1.0]
            known = bool(etas) and all(e is not None for e in etas)
            # parallel: the slowest job; one job: its own; several in sequence: unknown
            eta = max(etas) if known and (parallel or len(todo) == 1) else None
            progress.update(frac, '; '.join(f'{j.name}: {j.status}' for j in jobs),
                            stage_eta=eta)

    for j in todo:
        progress.print(f'  {j.name}: ' + ' '.join(
            [Path(j.command()[0]).name] + j.command()[1:]) + f'  (log {j.log_path})')
    if parallel:
        for j in todo:
            j.start(report)
        errors = []
        for j in todo:
            try:
                j.wait()
            except RuntimeError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]
    else:
        for j in todo:
            j.start(report)
            j.wait()
            report()
    progress.finish(note=', '.join(f'{j.name} {j.status}' for j in jobs))


# ----------------------------------------------------------------------------- evaluation
def _val_batches(cfg, num: int) -> List[dict]:
    """The first ``num`` validation frames of ``cfg`` as one-frame batches."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from mmdet3d.registry import DATASETS
    init_default_scope('mmdet3d')
    ds = DATASETS.build(cfg.val_dataloader.dataset)
    return [pseudo_collate([ds[i]]) for i in range(min(num, len(ds)))]


def evaluate(runs: Dict[str, dict], work_root: Path, b: Budget, env: Dict[str, str],
             progress: Progress, threads: int) -> Dict[str, dict]:
    """Final KittiMetric values, params, GFLOPs and CPU latency of the three models.

    AP values are the KittiMetric validation the training run ended with (its last
    iteration, the final weights). The distilled student is exported with
    ``tools/export_student.py`` (strict-load check into the plain student config), and its
    params / FLOPs / latency are measured on that exported, plain model.
    """
    import torch
    from mmdet3d_pointdistiller.quickstart.complexity import (count_flops, count_params,
                                                              measure_latency)
    from mmdet3d_pointdistiller.quickstart.metrics import extract_ap40, final_val_metrics
    from mmdet3d_pointdistiller.vis import load_detector

    torch.set_num_threads(threads)
    os.environ['PD_SIM_KITTI'] = env['PD_SIM_KITTI']
    kd = runs['pointdistiller']
    exported = kd['work_dir'] / 'student_exported.pth'
    progress.update(0.02, f'exporting the distilled student to {exported}')
    proc = subprocess.run([sys.executable, str(REPO / 'tools/export_student.py'),
                           str(kd['ckpt']), str(exported), '--config',
                           str(REPO / CONFIGS['student'])], cwd=REPO, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f'export_student failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}')
    deploy = {'teacher': (CONFIGS['teacher'], runs['teacher']['ckpt']),
              'student': (CONFIGS['student'], runs['student']['ckpt']),
              'pointdistiller': (CONFIGS['student'], exported)}
    results = {}
    batches = None
    for k, (name, (config, ckpt)) in enumerate(deploy.items()):
        run = runs[name]
        if run.get('ap') is not None:  # the shipped teacher: evaluated once
            metrics, ap = dict(step=run.get('metrics_step')), run['ap']
        else:
            metrics = final_val_metrics(str(run['work_dir']), step=run['iters'])
            ap = extract_ap40(metrics)
        model, cfg = load_detector(str(REPO / config), str(ckpt))
        if batches is None:
            batches = _val_batches(cfg, max(b.latency_frames, 1))
        progress.update(0.1 + 0.3 * k, f'{name}: params, FLOPs and latency on '
                                       f'{len(batches)} val frames')
        flops = count_flops(model, batches)
        lat = measure_latency(model, batches, warmup=2)
        results[name] = dict(
            name=DISPLAY[name], kd=name == 'pointdistiller', config=config, checkpoint=str(ckpt),
            params_m=count_params(model) / 1e6, gflops=flops['gflops'],
            gflops_per_module=flops['per_module'], latency_ms=lat['median_ms'], latency=lat,
            ap=ap, iters=run['iters'], metrics_step=metrics.get('step'),
            train_seconds=run.get('seconds'))
    return results


# ----------------------------------------------------------------------------- pictures
def pictures(runs: Dict[str, dict], work_root: Path, data_root: Path, b: Budget,
             progress: Progress, threads: int, score_thr: float = 0.3) -> Dict[str, List[str]]:
    """BEV PNGs per model on the first ``vis_frames`` val frames, and the training curves."""
    import pickle

    import numpy as np
    import torch
    from mmdet3d_pointdistiller.vis import (distiller_selection, gt_from_info, load_detector,
                                            load_frame, plot_training_curves, predict_frame,
                                            render_bev)
    torch.set_num_threads(threads)
    out_dir = work_root / 'bev'
    info_file = data_root / 'kitti_infos_val.pkl'
    with open(info_file, 'rb') as f:
        frames = [int(fr['sample_idx']) for fr in pickle.load(f)['data_list'][:b.vis_frames]]
    files: Dict[str, List[str]] = {}
    models = {
        'teacher': (CONFIGS['teacher'], runs['teacher']['ckpt'], {}),
        'student': (CONFIGS['student'], runs['student']['ckpt'], {}),
        # the distillation config: predictions of its student + the distiller's selection
        'pointdistiller': (CONFIGS['pointdistiller'], runs['pointdistiller']['ckpt'],
                           {'model.teacher_ckpt': str(runs['teacher']['ckpt'])}),
    }
    total = len(models) * len(frames)
    done = 0
    for name, (config, ckpt, opts) in models.items():
        model, cfg = load_detector(str(REPO / config), str(ckpt), cfg_options=opts)
        classes = model.dataset_meta['classes']
        for idx in frames:
            pts_file = data_root / 'training' / 'velodyne_reduced' / f'{idx:06d}.bin'
            data = load_frame(cfg, str(pts_file))
            pred = predict_frame(model, data)
            gt_boxes, gt_names = gt_from_info(str(info_file), idx)
            selection, sel_note = None, ''
            if name == 'pointdistiller':
                labels = [classes.index(n) for n in gt_names if n in classes]
                keep = [n in classes for n in gt_names]
                sel = distiller_selection(model, data, gt_boxes[np.array(keep, bool)]
                                          if len(gt_boxes) else gt_boxes, labels)
                if sel:
                    selection = next(iter(sel.values()))
                    sel_note = f', {len(selection["weight"])} pillars selected'
            points = np.fromfile(pts_file, dtype=np.float32).reshape(-1, 4)
            png = out_dir / f'{idx:06d}_{name}.png'
            render_bev(str(png), points, gt_boxes=gt_boxes, gt_names=gt_names, pred=pred,
                       class_names=classes, score_thr=score_thr, selection=selection,
                       point_cloud_range=cfg.point_cloud_range,
                       title=f'{DISPLAY[name]} - sim val frame {idx:06d} (score >= '
                             f'{score_thr}){sel_note}')
            files.setdefault(name, []).append(str(png))
            done += 1
            progress.update(done / (total + 1), f'{png.name}')
    curves = plot_training_curves({DISPLAY[n]: str(r['work_dir']) for n, r in runs.items()
                                   if r.get('work_dir')},
                                  str(work_root / 'training_curves.png'))
    files['curves'] = [curves]
    return files


# ----------------------------------------------------------------------------- summary
def write_summary(work_root: Path, results: Dict[str, dict], info: dict) -> str:
    from mmdet3d_pointdistiller.quickstart.metrics import format_table, moderate_map
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
        +         f"students {info['student_iters']} iterations each (batch {info['batch_size']}), "
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
        benchmark_comparison(gain['3D'], info), '',
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
    _write_json(work_root / 'summary.json', dict(results=results, info=info, moderate_map={
        n: {v: moderate_map(results[n]['ap'], v) for v in ('BEV', '3D')} for n in results},
        kd_gain=gain))
    return md


def benchmark_comparison(gain_3d: float, info: dict) -> str:
    """The sentence that puts this run's single-seed gain next to the committed paired-seed
    benchmark and says which one to trust."""
    ref = benchmark_reference('16x')
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
    from mmdet3d_pointdistiller.utils import cpu_model_name
    return (f'{os.cpu_count()} CPU cores ({cpu_model_name()}), '
            f'{platform.system()} {platform.release()}')


def _loadavg() -> str:
    try:
        return ', '.join(f'{v:.2f}' for v in os.getloadavg())
    except OSError:
        return 'n/a'


def shipped_teacher(root: Path, b: Budget, data_seed: int, work_root: Path, threads: int,
                    force: bool) -> dict:
    """The shipped zoo teacher as a quickstart run: its checkpoint and its KittiMetric AP40
    on this val split (the zoo record's values when the dataset is the zoo's, else measured
    once with ``Runner.test`` and cached in ``<work_root>/teacher_eval.json``)."""
    ckpt = REPO / ZOO_TEACHER
    if not ckpt.is_file():
        raise SystemExit(f'{ckpt} is missing: the shipped teacher comes with the repository '
                         f'(or train it: tools/quickstart.py --train-teacher)')
    zoo = _read_json(REPO / ZOO_RECORD)
    if zoo is None:
        raise SystemExit(f'{REPO / ZOO_RECORD} is missing (the zoo record of {ckpt.name})')
    out = dict(work_dir=None, ckpt=ckpt, iters=zoo['train_iters'], ran=False, seconds=None,
               metrics_step=zoo['train_iters'])
    if (b.num_train, b.num_val, data_seed) == (zoo['train_frames'], zoo['val_frames'],
                                                zoo['data_seed']):
        return dict(out, ap=zoo['ap'], note=f'AP of the zoo record {ZOO_RECORD}')
    cache = work_root / 'teacher_eval.json'
    cached = _read_json(cache)
    key = dict(num_train=b.num_train, num_val=b.num_val, data_seed=data_seed,
               sha256=zoo['sha256'])
    if cached is not None and cached.get('key') == key and not force:
        return dict(out, ap=cached['ap'], note=f'AP measured earlier ({cache})')
    from mmdet3d_pointdistiller.quickstart.metrics import extract_ap40
    from mmdet3d_pointdistiller.quickstart.zoo import test_checkpoint
    ap = extract_ap40(test_checkpoint(CONFIGS['teacher'], str(ckpt), str(root),
                                      str(work_root / 'teacher_test'), threads))
    _write_json(cache, dict(key=key, ap=ap))
    return dict(out, ap=ap, ran=True, note=f'AP measured on this val split ({cache})')


def benchmark_reference(ratio: str = '16x') -> Optional[dict]:
    """The committed paired-seed KD-gain record's entry for ``ratio`` (None if absent)."""
    rec = _read_json(REPO / KD_GAIN_RECORD)
    if not rec or ratio not in rec.get('ratios', {}):
        return None
    e = rec['ratios'][ratio]
    return dict(paired_gain=e.get('paired_gain'), gap_closed=e.get('gap_closed'),
                seeds=e.get('seeds'), missing=e.get('missing', []), budget=rec.get('budget'),
                teacher_sha256=rec.get('teacher', {}).get('sha256'))


# ----------------------------------------------------------------------------- main entry
def run_quickstart(budget: str = 'full', work_dir: str = 'work_dirs/quickstart',
                   data_root: str = 'data/sim_kitti', seed: int = 0, data_seed: int = 0,
                   threads: int = 1, jobs: int = 2, force: bool = False,
                   force_data: bool = False,
                   teacher_iters: Optional[int] = None, student_iters: Optional[int] = None,
                   num_train: Optional[int] = None, num_val: Optional[int] = None,
                   score_thr: float = 0.3, command: str = '', stream=None,
                   train_teacher: bool = False) -> dict:
    """Run the quickstart; returns the ``summary.json`` content."""
    if budget not in BUDGETS:
        raise ValueError(f'budget must be one of {sorted(BUDGETS)}, got {budget!r}')
    b = Budget(**asdict(BUDGETS[budget]))
    for k, v in dict(teacher_iters=teacher_iters, student_iters=student_iters,
                     num_train=num_train, num_val=num_val).items():
        if v is not None:
            if v < 1:
                raise ValueError(f'--{k.replace("_", "-")} must be >= 1, got {v}')
            setattr(b, k, v)
    if threads < 1:
        raise ValueError(f'--threads must be >= 1, got {threads}')
    work_root = Path(work_dir).resolve()
    root = Path(data_root).resolve()
    work_root.mkdir(parents=True, exist_ok=True)
    if jobs < 1:
        raise ValueError(f'--jobs must be >= 1, got {jobs}')
    progress = Progress(estimate_seconds(b, parallel=jobs > 1, train_teacher=train_teacher),
                        stream=stream)
    progress.print(f'quickstart: budget {budget} {asdict(b)}; work dir {work_root}; data '
                   f'{root}; estimated {fmt_seconds(sum(progress.estimates.values()))} '
                   f'(rescaled as stages finish)')
    env = subprocess_env(root, threads)

    progress.start('data', f'simulate + convert the dataset ({b.num_train} + {b.num_val} '
                           f'frames)')
    changed = ensure_dataset(root, b, data_seed, force_data, progress, workers=max(1, jobs))

    def job(name: str, iters: int, force_job: bool, extra=()) -> TrainJob:
        return TrainJob(name, CONFIGS[name], work_root / name, iters, b.evals, seed, env,
                        force=force_job, extra_options=extra, batch_size=b.batch_size)

    if train_teacher:
        progress.start('teacher', f'train the teacher: mim train mmdet3d {TEACHER_TRAIN_CONFIG} '
                                  f'({b.teacher_iters} iterations, {max(threads, jobs)} threads)')
        zoo_schedule = budget == 'full' and teacher_iters is None
        teacher_job = TrainJob('teacher', TEACHER_TRAIN_CONFIG, work_root / 'teacher',
                               b.teacher_iters, b.evals, seed,
                               subprocess_env(root, max(threads, jobs)), force=force or changed,
                               batch_size=4, budget=not zoo_schedule)
        run_train_jobs([teacher_job], progress, parallel=False)
        teacher = dict(work_dir=teacher_job.work_dir, ckpt=teacher_job.ckpt,
                       iters=teacher_job.iters, ran=teacher_job.ran,
                       seconds=teacher_job.seconds)
    else:
        progress.start('teacher', f'the shipped sim model-zoo teacher {ZOO_TEACHER}')
        teacher = shipped_teacher(root, b, data_seed, work_root, threads, force or changed)
        progress.finish(skipped=not teacher['ran'], note=teacher['note'])
    progress.start('students', f'train the 16x student without and with PointDistiller '
                               f'({b.student_iters} iterations each, '
                               f'{"in parallel" if jobs > 1 else "one after the other"})')
    students = [job('student', b.student_iters, force or changed),
                job('pointdistiller', b.student_iters, force or changed or teacher['ran'],
                    [f"model.teacher_ckpt={teacher['ckpt']}"])]
    run_train_jobs(students, progress, parallel=jobs > 1)
    runs = {j.name: dict(work_dir=j.work_dir, ckpt=j.ckpt, iters=j.iters, ran=j.ran,
                         seconds=j.seconds) for j in students}
    runs = dict(teacher=teacher, **runs)
    any_trained = changed or any(r['ran'] for r in runs.values())

    progress.start('evaluate', 'KittiMetric results, export, params, GFLOPs, CPU latency')
    eval_file = work_root / 'evaluation.json'
    cached = _read_json(eval_file)
    if cached is not None and not (force or any_trained) and \
            cached.get('budget') == asdict(b):
        results = cached['results']
        progress.finish(skipped=True, note=str(eval_file))
    else:
        results = evaluate(runs, work_root, b, env, progress, threads)
        _write_json(eval_file, dict(budget=asdict(b), results=results))
        progress.finish(note=str(eval_file))

    progress.start('pictures', f'BEV pictures of {b.vis_frames} val frame(s) per model and '
                               f'training curves')
    pics_file = work_root / 'pictures.json'
    cached = _read_json(pics_file)
    if cached is not None and not (force or any_trained) and cached.get('budget') == asdict(b) \
            and all(Path(p).is_file() for ps in cached['files'].values() for p in ps):
        files = cached['files']
        progress.finish(skipped=True, note=str(pics_file))
    else:
        files = pictures(runs, work_root, root, b, progress, threads, score_thr)
        _write_json(pics_file, dict(budget=asdict(b), files=files))
        progress.finish(note=f"{sum(len(v) for v in files.values())} PNGs in {work_root}")

    progress.start('summary', 'summary table')
    info = dict(budget=budget, **asdict(b), seed=seed, data_seed=data_seed, threads=threads,
                jobs=jobs, train_teacher=train_teacher,
                stage_seconds=dict(progress.times), skipped=list(progress.skipped),
                wall_seconds=progress.total(), machine=machine_description(),
                loadavg=_loadavg(), command=command or 'python tools/quickstart.py',
                data_root=str(root), work_dir=str(work_root), pictures=files,
                configs=CONFIGS)
    md = write_summary(work_root, results, info)
    progress.finish(note=f'{work_root / "summary.md"}')
    info['wall_seconds'] = progress.total()
    info['stage_seconds'] = dict(progress.times)
    md = write_summary(work_root, results, info)
    progress.print('\n' + md)
    return _read_json(work_root / 'summary.json')
