"""Train, evaluate and ship the simulated-dataset model zoo's teacher (the work of
``tools/train_sim_zoo.py``; its docstring gives the steps and commands).

:data:`MODELS` holds the zoo's stages; :func:`ship` writes the fp16 checkpoint and its record
``checkpoints/sim/<name>.json``; :func:`measure_shipped` is the measurement every zoo file gets
(the converged students of ``sim_zoo_students.py`` too). The zoo page ``configs/sim/README.md``
is rendered from the records by ``sim_zoo_readme.py``.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional, Tuple

import torch
from mmengine.config import Config

from ..apis.inference import load_detector
from ..quickstart.complexity import count_flops, count_params, measure_latency
from ..quickstart.dataset import ensure_dataset
from ..quickstart.evaluation import evaluate_checkpoint, val_batches
from ..quickstart.jobs import subprocess_env
from ..quickstart.metrics import extract_ap40, final_val_metrics, moderate_map
from ..quickstart.progress import Progress
from ..quickstart.settings import Budget
from ..utils.paths import checkout_root, sim_data_root
from ..utils.scalars import logged_wall_time
from .zoo import (curve_point, few_frame_check, learning_curve, precise_bn_checkpoint,
                  prediction_diff, save_fp16_checkpoint, sha256_file)

__all__ = ['MODELS', 'NUM_TRAIN', 'NUM_VAL', 'DATA_SEED', 'train', 'record_path', 'max_iters',
           'shipped_records', 'precise_bn_curve', 'measure_shipped', 'ship', 'run']

REPO = checkout_root()

MODELS = {
    'teacher': dict(
        config='configs/sim/pointpillars_hv_secfpn_1xb4-3000it-cpu_sim-kitti-3d-3class.py',
        # the plain sim config with the same model: what users and distillers load it into
        deploy_config='configs/sim/pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
        name='pointpillars_hv_secfpn_1xb4-3000it_sim-kitti-3d-3class',
        display='PointPillars (teacher, stock widths)'),
    # stage 2: a second cosine cycle from the teacher's final weights (its config's load_from)
    'teacher-ft': dict(
        config='configs/sim/pointpillars_hv_secfpn_1xb4-3000it-ft2000it-cpu_sim-kitti-3d-3class.py',
        deploy_config='configs/sim/pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
        name='pointpillars_hv_secfpn_1xb4-3000it-ft2000it_sim-kitti-3d-3class',
        display='PointPillars (teacher, stock widths, 3000 + 2000 it)', init_from='teacher'),
}
NUM_TRAIN, NUM_VAL, DATA_SEED = 1500, 300, 0
PRECISE_BN_BATCHES = 50
FEW_FRAMES = dict(val_start=NUM_TRAIN, num_val=4)


def train(config: str, work_dir: Path, threads: int, max_iters: int, force: bool,
          load_from: Optional[Path] = None) -> float:
    """Train unless finished (``load_from``: initial weights, a finished stage's last
    checkpoint); returns the wall seconds this call spent."""
    ckpt = work_dir / f'iter_{max_iters}.pth'
    if ckpt.is_file() and not force:
        print(f'[zoo] reusing the finished run {ckpt}', flush=True)
        return 0.0
    cmd = [str(Path(sys.executable).with_name('mim')), 'train', 'mmdet3d', str(REPO / config),
           '--work-dir', str(work_dir)]
    if load_from is not None:
        cmd += ['--cfg-options', f'load_from={load_from}']
    if (work_dir / 'last_checkpoint').is_file() and not force:
        cmd.append('--resume')
    env = subprocess_env(REPO / 'data/sim_kitti', threads, REPO)  # numba pinned too
    print('[zoo] ' + ' '.join(cmd), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, env=env, check=True)
    return time.perf_counter() - t0


def record_path(key: str) -> Path:
    return REPO / 'checkpoints' / 'sim' / f"{MODELS[key]['name']}.json"


def max_iters(key: str) -> int:
    """``train_cfg.max_iters`` of model ``key``'s training config."""
    return Config.fromfile(str(REPO / MODELS[key]['config'])).train_cfg.max_iters


def shipped_records() -> List[Tuple[str, dict]]:
    """``(model key, zoo record)`` of every shipped model, in ``MODELS`` order."""
    return [(k, json.loads(record_path(k).read_text())) for k in MODELS
            if record_path(k).is_file()]


def iters_before(key: str) -> int:
    """Training iterations of the earlier stages ``key`` starts from (0 for a first stage)."""
    parent = MODELS[key].get('init_from')
    return 0 if parent is None else iters_before(parent) + max_iters(parent)


def precise_bn_curve(config: str, work_dir: Path, threads: int) -> list:
    """KittiMetric of every ``iter_*.pth`` of the run after precise BN (the running averages
    of a fast-moving schedule are stale, see PreciseBNHook); cached in
    ``<work_dir>/learning_curve_precise_bn.json``."""
    cache_file = work_dir / 'learning_curve_precise_bn.json'
    cache = json.loads(cache_file.read_text()) if cache_file.is_file() else {}
    ckpts = sorted(work_dir.glob('iter_*.pth'), key=lambda p: int(p.stem.split('_')[1])
                   if p.stem.split('_')[1].isdigit() else -1)
    for ckpt in ckpts:
        step = ckpt.stem.split('_')[1]
        if not step.isdigit() or step in cache:
            continue
        tmp = work_dir / f'precise_bn_{step}.pth'
        precise_bn_checkpoint(config, str(ckpt), str(tmp), PRECISE_BN_BATCHES,
                              data_root='data/sim_kitti', seed=DATA_SEED)
        metrics = evaluate_checkpoint(config, str(tmp), 'data/sim_kitti',
                                      str(work_dir / f'test_precise_bn_{step}'), threads)
        cache[step] = curve_point(metrics, int(step))
        cache_file.write_text(json.dumps(cache, indent=1))
        tmp.unlink()
        print(f"[zoo] iteration {step} with precise BN: 3D mAP {cache[step]['map_3d']:.2f}, "
              f"BEV mAP {cache[step]['map_bev']:.2f}", flush=True)
    return [cache[k] for k in sorted(cache, key=int)]


def measure_shipped(deploy_config: str, fp32: Path, dst: Path, work_dir: Path,
                    threads: int) -> dict:
    """What a zoo record says about shipped fp16 file ``dst`` (float32 source ``fp32``, both
    loading into ``deploy_config``): ``Runner.test`` (the ``mim test`` path) on the full val
    split, the fp16 and float32 predictions compared box by box on 20 val frames, parameters,
    GFLOPs and CPU ms/frame (1 torch thread) on 10 val frames, and the few-frame check
    ``tests/test_sim_zoo.py`` repeats. ``work_dir`` holds the test outputs.

    Returns:
        dict: the record keys of the shipped file: ``checkpoint`` (repository-relative),
        ``sha256``, ``checkpoint_bytes``, ``storage``, ``ap``, ``map_3d``, ``map_bev``,
        ``fp16_check``, ``params_m``, ``gflops``, ``cpu_ms_per_frame``, ``few_frame_check``.
    """
    with sim_data_root(REPO / 'data/sim_kitti'):  # the configs parsed below read the data
        metrics = evaluate_checkpoint(deploy_config, str(dst), 'data/sim_kitti',
                                      str(work_dir / 'test_fp16'), threads)
        ap = extract_ap40(metrics)
        val_ids = [ln.strip() for ln in (REPO / 'data/sim_kitti/ImageSets/val.txt').read_text()
                   .split()][:20]
        files = [str(REPO / 'data/sim_kitti/training/velodyne_reduced' / f'{i}.bin')
                 for i in val_ids]
        missing = [f for f in files if not Path(f).is_file()]
        if missing:
            raise FileNotFoundError(f'{len(missing)} reduced val point clouds missing in '
                                    f'data/sim_kitti (e.g. {missing[0]}); simulate the dataset '
                                    'first (python tools/simulate_kitti.py ... --create-data)')
        fp16 = prediction_diff(deploy_config, str(fp32), str(dst), files)
        print(f'[zoo] fp16 vs float32 on {len(files)} val frames: {fp16}', flush=True)
        torch.set_num_threads(1)
        model, dcfg = load_detector(str(REPO / deploy_config), str(dst))
        batches = val_batches(dcfg, 10)
        flops = count_flops(model, batches)
        lat = measure_latency(model, batches, warmup=2)
        few = few_frame_check(deploy_config, str(dst), **FEW_FRAMES, seed=DATA_SEED,
                              threads=threads)
    print(f'[zoo] few-frame check: {few}', flush=True)
    return dict(checkpoint=str(dst.relative_to(REPO)), sha256=sha256_file(dst),
                checkpoint_bytes=dst.stat().st_size, storage='fp16',
                ap=ap, map_3d=moderate_map(ap, '3D'), map_bev=moderate_map(ap, 'BEV'),
                fp16_check=fp16, params_m=count_params(model) / 1e6, gflops=flops['gflops'],
                cpu_ms_per_frame=lat['median_ms'], few_frame_check=few)


def ship(key: str, work_dir: Path, threads: int, train_wall_s: float, command: str) -> dict:
    """Ship zoo teacher stage ``key`` trained in ``work_dir``: precise BN of its final
    weights, fp16 file, :func:`measure_shipped` and its record (the caller rewrites the zoo
    README: ``sim_zoo_readme.write_readme``)."""
    m = MODELS[key]
    t0 = time.perf_counter()
    cfg = Config.fromfile(str(REPO / m['config']))
    iters = cfg.train_cfg.max_iters
    src = work_dir / f'iter_{iters}.pth'
    if not src.is_file():
        raise SystemExit(f'{src} does not exist: the training run is not finished')
    # learning curve with precise BN statistics at every kept checkpoint (cached per step)
    curve = precise_bn_curve(m['deploy_config'], work_dir, threads)
    precise = work_dir / f'iter_{iters}_precise_bn.pth'
    pbn = precise_bn_checkpoint(m['deploy_config'], str(src), str(precise), PRECISE_BN_BATCHES,
                                data_root='data/sim_kitti', seed=DATA_SEED)
    print(f'[zoo] precise BN of the final weights: {pbn}', flush=True)
    dst = REPO / 'checkpoints' / 'sim' / f"{m['name']}_fp16.pth"
    info = save_fp16_checkpoint(precise, dst, meta=dict(config=m['config'], iters=iters,
                                                        precise_bn_batches=pbn['batches']))
    print(f'[zoo] wrote {dst} ({info})', flush=True)
    measured = measure_shipped(m['deploy_config'], precise, dst, work_dir, threads)
    ap32 = extract_ap40(final_val_metrics(str(work_dir), step=iters))
    record = record_path(key)
    rec = dict(
        display=m['display'], config=m['config'], deploy_config=m['deploy_config'],
        **measured,
        map_3d_fp32=moderate_map(ap32, '3D'), map_bev_fp32=moderate_map(ap32, 'BEV'),
        ap_fp32=ap32, val_frames=NUM_VAL, train_frames=NUM_TRAIN, data_seed=DATA_SEED,
        learning_curve=curve,
        learning_curve_running_bn=learning_curve(str(work_dir)),
        precise_bn=dict(pbn, batches_per_update=PRECISE_BN_BATCHES), train_iters=iters,
        batch_size=cfg.train_dataloader.batch_size, threads=threads,
        train_wall_s=train_wall_s, ship_wall_s=time.perf_counter() - t0, command=command,
        record=str(record.relative_to(REPO)), init_from=m.get('init_from'))
    record.write_text(json.dumps(rec, indent=1))
    print(f"[zoo] wrote {record}: 3D mAP {rec['map_3d']:.2f}, BEV mAP {rec['map_bev']:.2f} "
          '(fp16 file, full val)', flush=True)
    return rec


def run(args) -> int:
    """``tools/train_sim_zoo.py``'s work for its parsed arguments (``model``, ``work_dir``,
    ``threads``, ``force``, ``ship_only``, ``readme_only``, ``curve_only``, ``train_wall_s``)."""
    m = MODELS[args.model]
    work = Path(args.work_dir or f'work_dirs/sim_zoo/{args.model}').resolve()
    if args.readme_only:
        record = record_path(args.model)
        rec = json.loads(record.read_text())
        if not rec['train_wall_s'] == rec['train_wall_s']:  # nan: take it from the logs
            rec['train_wall_s'] = logged_wall_time(work)
            record.write_text(json.dumps(rec, indent=1))
        return 0
    prog = Progress(dict(data=200.0), label='zoo')
    prog.start('data', 'dataset data/sim_kitti')
    ensure_dataset((REPO / 'data/sim_kitti').resolve(),
                   Budget(num_train=NUM_TRAIN, num_val=NUM_VAL, teacher_iters=0,
                          student_iters=0), DATA_SEED, False, prog, workers=2)
    iters = max_iters(args.model)
    if args.curve_only:
        for c in precise_bn_curve(m['deploy_config'], work, args.threads):
            print(c['step'], f"3D mAP {c['map_3d']:.2f}, BEV mAP {c['map_bev']:.2f}")
        return 0
    load_from = None
    if 'init_from' in m:  # a later stage: the earlier one's final weights (trained if missing)
        parent = MODELS[m['init_from']]
        parent_work = (REPO / 'work_dirs/sim_zoo' / m['init_from']).resolve()
        parent_iters = max_iters(m['init_from'])
        load_from = parent_work / f'iter_{parent_iters}.pth'
        if not args.ship_only and not load_from.is_file():
            print(f"[zoo] {args.model} starts from {m['init_from']}, which is not trained yet",
                  flush=True)
            train(parent['config'], parent_work, args.threads, parent_iters, False)
    wall = 0.0 if args.ship_only else train(m['config'], work, args.threads, iters, args.force,
                                            load_from)
    if args.train_wall_s is not None:
        wall = args.train_wall_s
    elif wall == 0.0:  # reused: the wall time between the run's first and last log lines
        wall = logged_wall_time(work)
    ship(args.model, work, args.threads, wall, f'python tools/train_sim_zoo.py {args.model}')
    return 0
