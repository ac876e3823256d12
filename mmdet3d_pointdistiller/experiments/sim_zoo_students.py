"""Ship the converged students of the paired-seed KD-gain record as sim model-zoo entries
(``python tools/train_sim_zoo.py student-16x``, ``pointdistiller-16x``, ...).

A zoo student is not trained again: it is seed :data:`SHIP_SEED` of its method's run in the
reporting record (``benchmarks/kd_gain_sim.json``), so the shipped file is the run whose
numbers the record reports. Shipping a :data:`STUDENTS` entry

1. finds the run (ratio, method, seed) in the record and its final checkpoint under the
   record's ``--work-dir`` (``<work dir>/<ratio>/<method>/seed_<seed>/iter_<iters>.pth``);
2. checks that the entry's leaf config, the one a user trains with ``mim train mmdet3d``,
   resolves to the run's config with the run's ``--cfg-options`` (the seed and the teacher
   checkpoint aside), and names every key that differs when it does not;
3. takes the student's weights: for a distillation run the ``student.*`` part of the
   checkpoint (``export_student``, strictly loaded into the record's plain student config),
   otherwise the checkpoint's weights as they are (both carry the precise-BN statistics of
   ``PreciseBNHook``, which runs before every checkpoint, so the record's last validation
   is these weights in float32);
4. stores them as fp16 in ``checkpoints/sim/<name>_fp16.pth`` and measures that file as the
   teacher's entries are measured (:func:`~.sim_zoo.measure_shipped`);
5. writes the record ``checkpoints/sim/<name>.json``, the entry's weights and results in
   ``configs/sim/metafile.yml`` (:mod:`.sim_zoo_metafile`) and the zoo README.
"""
from __future__ import annotations

import json
import shlex
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
from mmengine.config import Config

from ..compat import safe_torch_load
from ..models.distillers.export import export_student_state, verify_strict
from ..models.distillers.state_dict import STUDENT, has_part
from ..quickstart.settings import KD_GAIN_RECORD
from ..utils.cfg_options import merge_cfg_options
from ..utils.paths import sim_data_root
from ..utils.scalars import logged_wall_time
from .kd_gain_readme import REPORTING_RATIOS
from .sim_zoo import DATA_SEED, NUM_TRAIN, NUM_VAL, REPO, measure_shipped
from .sim_zoo_metafile import write_metafile_entry
from .sim_zoo_readme import write_readme, zoo_table
from .zoo import save_fp16_checkpoint

__all__ = ['STUDENTS', 'SHIP_SEED', 'IGNORED_OPTIONS', 'FUNCTION_PRESERVING_HOOKS',
           'ShipError', 'checkpoint_name', 'kept_options', 'shipped_what',
           'source_run', 'config_differences', 'student_weights', 'ship_student']

#: the reporting record's seed whose runs are shipped (the issue's "seed 1 of the reporting
#: runs"; tuning seeds >= 101 never ship)
SHIP_SEED = 1
#: leaf configs of the zoo students: each resolves to its method's config in the record plus
#: the run's ``--cfg-options`` (checked when shipping)
_LEAF = 'configs/sim/{}pointpillars-{}_hv_secfpn_1xb4-6000it-cpu_sim-kitti-3d-3class.py'
STUDENTS: Dict[str, Dict[str, str]] = {
    f'{kind}-{ratio}': dict(ratio=ratio, method=method, config=_LEAF.format(prefix, ratio),
                            display=f'PointPillars {ratio[:-1]}× ({what})')
    for ratio in REPORTING_RATIOS
    for kind, method, prefix, what in (('student', 'student', '', 'student alone'),
                                       ('pointdistiller', 'default', 'pointdistiller_',
                                        'PointDistiller'))}
#: ``--cfg-options`` of a run that a leaf config does not fix: the seed is the user's choice,
#: the teacher file is the distillation base config's default already
IGNORED_OPTIONS = ('randomness.seed', 'model.teacher_ckpt')
#: custom hooks that change how fast a model computes, not what: a leaf config may add them
FUNCTION_PRESERVING_HOOKS = ('RealPointsPFNHook',)
#: top-level scalars the runner reads; other top-level scalars of a config are its own
#: variables (``max_iters``, ``lr``, ...), whose effect shows in the keys that use them
RUNNER_SCALARS = ('load_from', 'resume', 'default_scope', 'launcher', 'work_dir')


def kept_options(options: List[str]) -> List[str]:
    """A run's ``--cfg-options`` without those in :data:`IGNORED_OPTIONS`."""
    return [o for o in options if o.split('=', 1)[0] not in IGNORED_OPTIONS]


class ShipError(Exception):
    """A student cannot be shipped (missing record, run, checkpoint or leaf config, or a leaf
    config that does not reproduce the run); the message says what to do."""


def checkpoint_name(config: str) -> str:
    """Zoo file stem of a leaf config, as for the teacher: ``<config stem>`` without ``-cpu``
    (``pointpillars-16x_hv_secfpn_1xb4-6000it-cpu_sim-kitti-3d-3class.py`` ->
    ``pointpillars-16x_hv_secfpn_1xb4-6000it_sim-kitti-3d-3class``)."""
    return Path(config).stem.replace('-cpu_', '_')


def _work_root(ratio_entry: dict, record_file: str) -> Path:
    """The ``--work-dir`` of the record's command for this ratio; raises when the command does
    not name one (the runs' checkpoints could not be found)."""
    argv = shlex.split(ratio_entry.get('command', ''))
    if '--work-dir' in argv:
        return REPO / argv[argv.index('--work-dir') + 1]
    raise ShipError(f"{record_file}: the command of this ratio names no --work-dir, so the "
                    'runs\' checkpoints cannot be found')


def source_run(key: str, record_file: str = KD_GAIN_RECORD, seed: int = SHIP_SEED,
               require_checkpoint: bool = True) -> Dict[str, Any]:
    """The run zoo entry ``key`` ships and where its files are.

    ``require_checkpoint=False`` reads the record only (for what needs no weights, e.g. the
    metafile text on a machine without the run's work dir).

    Returns:
        dict: ``run`` (the record's per-run values), ``method``, ``ratio``, ``seed``,
        ``arm_config`` (the run's config), ``deploy_config`` (the record's plain student
        config of that ratio), ``checkpoint`` (Path of the final checkpoint), ``iters``,
        ``batch_size``, ``record`` (repository-relative record path), ``threads`` (torch
        threads of the run).

    Raises:
        ShipError: unknown key, missing record / ratio / method / seed / checkpoint (the
        last only with ``require_checkpoint``).
    """
    if key not in STUDENTS:
        raise ShipError(f'unknown zoo student {key!r}; known: {sorted(STUDENTS)}')
    entry = STUDENTS[key]
    path = REPO / record_file
    if not path.is_file():
        raise ShipError(f'{record_file} does not exist: run the reporting benchmark first '
                        '(benchmarks/protocols/kd_gain_sim.md)')
    rec = json.loads(path.read_text())
    ratio, method = entry['ratio'], entry['method']
    ratio_entry = rec.get('ratios', {}).get(ratio)
    if ratio_entry is None:
        raise ShipError(f'{record_file} has no {ratio} runs (ratios: '
                        f"{sorted(rec.get('ratios', {}))})")
    run = ratio_entry.get('runs', {}).get(method, {}).get(str(seed))
    if run is None:
        raise ShipError(f'{record_file} has no {ratio} run of method {method!r} with seed '
                        f"{seed} (methods: {sorted(ratio_entry.get('runs', {}))})")
    iters = rec['budget']['iters']
    ckpt = _work_root(ratio_entry, record_file) / ratio / method / f'seed_{seed}' / \
        f'iter_{iters}.pth'
    if require_checkpoint and not ckpt.is_file():
        shown = ckpt.relative_to(REPO) if ckpt.is_relative_to(REPO) else ckpt
        raise ShipError(f'{shown} does not exist: the {ratio} {method} run '
                        f'of seed {seed} was trained on another machine or its work dir was '
                        'removed; re-run its benchmark command to reproduce it')
    return dict(run=run, method=method, ratio=ratio, seed=seed,
                arm_config=ratio_entry['methods'][method],
                deploy_config=ratio_entry['methods']['student'], checkpoint=ckpt,
                iters=iters, batch_size=rec['budget']['batch_size'], record=record_file,
                threads=ratio_entry.get('threads', 1))


def _flat(d: Any, prefix: str = '') -> Dict[str, Any]:
    """Dotted keys of nested dicts and lists (list items by index), leaves as values."""
    if isinstance(d, dict):
        items = d.items()
    elif isinstance(d, (list, tuple)):
        items = ((str(i), v) for i, v in enumerate(d))
    else:
        return {prefix: d}
    out: Dict[str, Any] = {}
    for k, v in items:
        out.update(_flat(v, f'{prefix}.{k}' if prefix else str(k)))
    return out


def config_differences(leaf: str, arm_config: str, options: List[str]) -> List[str]:
    """Dotted keys whose values differ between leaf config ``leaf`` and ``arm_config`` with
    ``options`` merged (both resolved against the sim data root; options in
    :data:`IGNORED_OPTIONS` and hooks in :data:`FUNCTION_PRESERVING_HOOKS` left out). Empty
    when the leaf reproduces the run."""
    kept = kept_options(options)
    with sim_data_root(REPO / 'data/sim_kitti'):
        a = Config.fromfile(str(REPO / leaf)).to_dict()
        b = merge_cfg_options(Config.fromfile(str(REPO / arm_config)), kept).to_dict()

    def runner_keys(cfg: dict) -> Dict[str, Any]:
        cfg = dict(cfg, custom_hooks=[h for h in cfg.get('custom_hooks', [])
                                      if h.get('type') not in FUNCTION_PRESERVING_HOOKS])
        return _flat({k: v for k, v in cfg.items()
                      if isinstance(v, (dict, list, tuple)) or k in RUNNER_SCALARS})
    a, b = runner_keys(a), runner_keys(b)
    ignored = tuple(IGNORED_OPTIONS) + ('pd_distiller.teacher_ckpt',)
    return sorted(k for k in set(a) | set(b)
                  if a.get(k, '<missing>') != b.get(k, '<missing>')
                  and not k.startswith(ignored))


def student_weights(checkpoint: Path, deploy_config: str, out: Path) -> Dict[str, Any]:
    """Write the student's weights of training checkpoint ``checkpoint`` to ``out`` (float32).

    A distillation checkpoint gives its ``student.*`` part, a plain detector checkpoint its
    weights without the optimizer state; either must load strictly into ``deploy_config``.

    Raises:
        ExportError: the weights do not load strictly into ``deploy_config``.

    Returns:
        dict: ``exported`` (bool: whether the student part was taken) and ``tensors``.
    """
    ckpt = safe_torch_load(str(checkpoint), map_location='cpu')
    state = ckpt.get('state_dict', ckpt)
    exported = has_part(state, STUDENT)
    if exported:
        plain = export_student_state(ckpt, str(checkpoint))
    else:
        plain = dict(state_dict=state, meta={k: v for k, v in ckpt.get('meta', {}).items()
                                             if k in ('dataset_meta', 'iter', 'epoch')})
    verify_strict(plain, str(REPO / deploy_config))
    torch.save(plain, str(out))
    return dict(exported=exported, tensors=len(plain['state_dict']))


def shipped_what(src: Dict[str, Any]) -> str:
    """What a shipped student's weights are, for its metafile entry (``src``: a
    :func:`source_run` result)."""
    if src['method'] == 'student':
        return f"the {src['ratio']} student alone"
    return (f"the {src['ratio']} student distilled with the {src['method']} arm "
            f"({src['arm_config']}), exported as a plain student checkpoint of "
            f"{src['deploy_config']}")


def ship_student(key: str, record_file: str = KD_GAIN_RECORD, threads: int = 1,
                 command: Optional[str] = None, seed: int = SHIP_SEED) -> dict:
    """Ship zoo student ``key`` (module docstring) from the run of ``seed``; returns its
    record."""
    t0 = time.perf_counter()
    src = source_run(key, record_file, seed)
    entry = STUDENTS[key]
    leaf = entry['config']
    if not (REPO / leaf).is_file():
        raise ShipError(f'{leaf} does not exist: write it as a leaf config of '
                        f"{src['arm_config']} that sets its run's --cfg-options "
                        f"{kept_options(src['run']['options'])}")
    diff = config_differences(leaf, src['arm_config'], src['run']['options'])
    if diff:
        raise ShipError(f"{leaf} does not reproduce the {src['ratio']} {src['method']} run of "
                        f"{record_file}: these keys differ from {src['arm_config']} with the "
                        f"run's --cfg-options: {diff[:12]}{' ...' if len(diff) > 12 else ''}")
    name = checkpoint_name(leaf)
    dst = REPO / 'checkpoints' / 'sim' / f'{name}_fp16.pth'
    work = src['checkpoint'].parent
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / 'student_fp32.pth'
        got = student_weights(src['checkpoint'], src['deploy_config'], fp32)
        info = save_fp16_checkpoint(fp32, dst, meta=dict(
            config=leaf, iters=src['iters'], source=f"{record_file} {src['ratio']} "
            f"{src['method']} seed {src['seed']}"))
        print(f'[zoo] wrote {dst} ({info}; student part exported: {got["exported"]})',
              flush=True)
        measured = measure_shipped(src['deploy_config'], fp32, dst, work, threads)
    run = src['run']
    record = REPO / 'checkpoints' / 'sim' / f'{name}.json'
    rec = dict(
        display=entry['display'], config=leaf, deploy_config=src['deploy_config'],
        **measured,
        # the run's own last validation: these weights in float32 (precise BN before it)
        map_3d_fp32=run['map_3d'], map_bev_fp32=run['map_bev'], ap_fp32=run['ap'],
        val_frames=NUM_VAL, train_frames=NUM_TRAIN, data_seed=DATA_SEED,
        learning_curve=[dict(step=c['iter'], map_3d=c['map_3d'], map_bev=c['map_bev'])
                        for c in run.get('curve', [])],
        train_iters=src['iters'], batch_size=src['batch_size'], threads=src['threads'],
        # every training process of the run (the record's seconds count the last one only)
        train_wall_s=logged_wall_time(work), ship_wall_s=time.perf_counter() - t0,
        source=dict(record=record_file, ratio=src['ratio'], method=src['method'],
                    seed=src['seed'], config=src['arm_config'],
                    config_hash=run.get('config_hash'), started_at=run.get('started_at'),
                    options=run['options'], student_part_exported=got['exported']),
        command=command or f'python tools/train_sim_zoo.py {key}',
        record=str(record.relative_to(REPO)))
    record.write_text(json.dumps(rec, indent=1))
    write_metafile_entry(rec, shipped_what(src), REPO)
    write_readme()
    print(f'[zoo] wrote {record} and configs/sim/README.md\n' + zoo_table([rec]), flush=True)
    return rec
