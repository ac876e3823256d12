"""Training stages as real ``mim train mmdet3d <config>`` subprocesses: their environment, the
resolved-config hash that decides reuse, one job (reused, resumed or new) and a set of jobs run
together with combined progress."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Union

from mmengine.config import Config

from mmdet3d_pointdistiller.utils.cfg_options import merge_cfg_options
from mmdet3d_pointdistiller.utils.json_io import read_json, write_json
from mmdet3d_pointdistiller.utils.paths import SIM_ROOT_ENV, repo_root, sim_data_root

from .progress import Progress, fmt_seconds
from .settings import budget_cfg_options

__all__ = ['MARKER', 'TrainJob', 'config_hash', 'mim_executable', 'run_train_jobs',
           'subprocess_env', 'utc_now']

#: the marker file a training job leaves in its work dir (config, options, finished)
MARKER = 'quickstart_stage.json'


def mim_executable() -> str:
    """The ``mim`` next to this interpreter, else ``mim`` from the PATH."""
    mim = Path(sys.executable).with_name('mim')
    return str(mim) if mim.exists() else 'mim'


def subprocess_env(data_root: Path, threads: int,
                   repo: Optional[Union[str, Path]] = None) -> Dict[str, str]:
    """Environment of the ``mim`` subprocesses: data root, thread count, the repository root
    (:func:`~mmdet3d_pointdistiller.utils.paths.repo_root` of ``repo``) on the path.

    The thread count goes to numba too (``NUMBA_NUM_THREADS``): mmdet3d's KITTI evaluation
    runs a ``numba.jit(parallel=True)`` IoU kernel, and numba's OpenMP layer, started with
    as many threads as the machine has cores, sets the process-wide OpenMP thread count, so
    after a run's first validation torch would train on every core (two runs at once on two
    cores: four busy threads)."""
    env = dict(os.environ)
    env['PD_SIM_KITTI'] = str(Path(data_root).resolve()) + '/'
    for var in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'NUMBA_NUM_THREADS'):
        env[var] = str(threads)
    env['PYTHONPATH'] = os.pathsep.join([str(repo_root(repo))] + (
        [env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    return env


def utc_now() -> str:
    """The current time as ISO 8601 in UTC, to the second (``2026-12-06T16:40:00+00:00``)."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


_ITER_RE = re.compile(r'Iter\((train|val)\)\s*\[\s*(\d+)/(\d+)\]')
_LOSS_RE = re.compile(r'\b(loss(?:_pd_\w+)?): ([0-9.]+)')
#: mmengine's IterBasedTrainLoop on resume: it draws that many batches to restore the data order
_ADVANCE_RE = re.compile(r'Advance dataloader (\d+) steps')


def config_hash(config: str, options: Sequence[str], env: Dict[str, str],
                repo: Optional[Union[str, Path]] = None) -> str:
    """SHA-1 of the fully resolved config (inheritance, ``--cfg-options``, the data root of
    ``env``), so that editing a config file invalidates the runs trained with it.

    Portable: the repository's and the data root's absolute paths are replaced by
    placeholders before hashing, so the same run hashes alike in another checkout (recorded
    benchmark runs are matched by it). ``repo``: the repository root (see
    :func:`~mmdet3d_pointdistiller.utils.paths.repo_root`) relative configs are read from."""
    root = repo_root(repo)
    path = Path(config) if Path(config).is_absolute() else root / config
    with sim_data_root(env.get(SIM_ROOT_ENV) or None):
        cfg = Config.fromfile(str(path))
    merge_cfg_options(cfg, options)
    text = cfg.pretty_text
    if env.get('PD_SIM_KITTI'):
        text = text.replace(env['PD_SIM_KITTI'].rstrip('/'), '<data_root>')
    text = text.replace(str(root), '<repo>')
    return hashlib.sha1(text.encode()).hexdigest()


class TrainJob:
    """One ``mim train mmdet3d <config>`` run with an ``iters`` budget (reused, resumed or new).

    Its marker file ``<work_dir>/quickstart_stage.json`` records the config and the
    ``--cfg-options``; a finished run with the same ones is reused (unless ``force``), an
    unfinished one with the same ones is resumed from ``last_checkpoint``, anything else is
    trained from scratch in an emptied work dir. ``config`` is relative to the repository
    root ``repo`` (see :func:`~mmdet3d_pointdistiller.utils.paths.repo_root`), which is also
    the subprocess's working directory.
    """

    def __init__(self, name: str, config: str, work_dir: Path, iters: int, evals: int,
                 seed: int, env: Dict[str, str], force: bool = False,
                 extra_options: Sequence[str] = (), batch_size: int = 2,
                 budget: bool = True, repo: Optional[Union[str, Path]] = None) -> None:
        # budget=False: the config's own schedule (``iters`` must be its max_iters), only the
        # seed is set
        self.name, self.config, self.work_dir = name, config, Path(work_dir)
        self.iters, self.env = iters, env
        self.repo = repo_root(repo)
        self.options = (budget_cfg_options(iters, evals, seed, batch_size) if budget else
                        [f'randomness.seed={seed}']) + list(extra_options)
        self.config_hash = config_hash(config, self.options, env, self.repo)
        self.ckpt = self.work_dir / f'iter_{iters}.pth'
        self.log_path = self.work_dir / 'quickstart_train.log'
        marker = read_json(self.work_dir / MARKER)
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
        #: wall-clock start of the run's first training process (ISO 8601, UTC); a resumed
        #: run keeps the start of its first part, a reused run the one its marker recorded
        self.started_at: Optional[str] = (marker or {}).get('started_at') if \
            self.mode != 'new' else None
        self.frac = 1.0 if self.mode == 'reuse' else 0.0
        self.status = 'reused' if self.mode == 'reuse' else 'waiting'
        self.proc: Optional[subprocess.Popen] = None
        self.tail: List[str] = []
        self.evals = evals
        self.eta: Optional[float] = None  # seconds left, from the measured iteration rate
        self.rate: Optional[float] = None  # seconds per training iteration in this process
        self._first = None
        self._vals_before = 0  # validations a resumed run did before this process
        # a validation is timed from the last logged training iteration before it (mmengine
        # logs val iterations at the logger interval: there is no line at its start)
        self._last_train_t: Optional[float] = None
        self._val_t0: Optional[float] = None  # start of the validation in progress, if any
        self._val_seconds = 0.0
        self._vals_done = 0
        self._t0 = 0.0
        self._thread = None

    @property
    def run_seconds(self) -> Optional[float]:
        """Wall time of the whole run (every iteration and validation) at the rates this
        process measured, also for a resumed run; None before the second logged iteration."""
        if self.rate is None:
            return None
        return self.rate * self.iters + self._val_seconds * self.evals

    @property
    def ran(self) -> bool:
        """Whether this job trains (new or resumed) rather than reusing a finished run."""
        return self.mode != 'reuse'

    def command(self) -> List[str]:
        """The ``mim train`` command line of this job."""
        cmd = [mim_executable(), 'train', 'mmdet3d', str(self.repo / self.config), '--work-dir',
               str(self.work_dir)]
        if self.mode == 'resume':
            cmd.append('--resume')
        return cmd + ['--cfg-options', *self.options]

    def start(self, on_event: Callable[['TrainJob'], None]) -> None:
        """Start the subprocess; a reader thread parses its log and calls ``on_event``."""
        if self.mode == 'new' and self.work_dir.exists():
            shutil.rmtree(self.work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        if self.started_at is None:
            self.started_at = utc_now()
        write_json(self.work_dir / MARKER,
                   dict(config=self.config, cfg_options=self.options, finished=False,
                        config_hash=self.config_hash, started_at=self.started_at))
        self._t0 = time.perf_counter()
        self.status = 'starting' + (' (resume)' if self.mode == 'resume' else '')
        self.proc = subprocess.Popen(self.command(), cwd=self.repo, env=self.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)
        self._thread = threading.Thread(target=self._read, args=(on_event, ), daemon=True)
        self._thread.start()

    def _read(self, on_event: Callable[['TrainJob'], None]) -> None:
        """Copy the subprocess's output to the log; parse iterations, losses, validations."""
        with open(self.log_path, 'a') as log:
            for line in self.proc.stdout:
                log.write(line)
                self.tail = (self.tail + [line])[-80:]
                m = _ITER_RE.search(line)
                if not m:
                    advance = _ADVANCE_RE.search(line)
                    if advance:  # minutes without a log line: say why
                        self.status = (f'resuming at iteration {advance.group(1)}: replaying '
                                       'its batches to restore the data order')
                        on_event(self)
                    continue
                kind, i, n = m.group(1), int(m.group(2)), int(m.group(3))
                if kind == 'train':
                    now = time.perf_counter()
                    self._last_train_t = now
                    if self._first is None:
                        self._first = (now, i)
                        # evenly spaced validations, the last at iters: those before i (a
                        # resumed run's earlier process did them)
                        self._vals_before = (i - 1) * self.evals // self.iters
                    elif i > self._first[1]:
                        self.rate = (now - self._first[0]) / (i - self._first[1])
                        # + the validations still to come, at the observed validation speed
                        left = max(0, self.evals - self._vals_before - self._vals_done)
                        self.eta = self.rate * (self.iters - i) + self._val_seconds * left
                    self.frac = i / self.iters * 0.95
                    losses = ', '.join(f'{k} {v}' for k, v in _LOSS_RE.findall(line))
                    self.status = f'iter {i}/{n} {losses}'
                else:
                    now = time.perf_counter()
                    if self._val_t0 is None:  # the first logged line of a validation
                        self._val_t0 = now if self._last_train_t is None else \
                            self._last_train_t
                    if i == n:
                        self._vals_done += 1
                        self._val_seconds = max(self._val_seconds, now - self._val_t0)
                        self._val_t0 = None
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
        write_json(self.work_dir / MARKER, dict(
            config=self.config, cfg_options=self.options, finished=True, seconds=self.seconds,
            resumed=self.mode == 'resume', config_hash=self.config_hash,
            started_at=self.started_at))
        self.frac, self.status = 1.0, f'done in {fmt_seconds(self.seconds)}'


def run_train_jobs(jobs: Sequence[TrainJob], progress: Progress, parallel: bool) -> None:
    """Run the jobs that are not reused (all at once if ``parallel``) with combined progress."""
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
