"""The quickstart's trained models measured: final KittiMetric values, params, GFLOPs and CPU
latency (``evaluate``), BEV pictures and training curves (``pictures``), and the shipped zoo
teacher as a run (``shipped_teacher``). Configs and shipped files are read relative to the
repository root ``repo`` (see :func:`~mmdet3d_pointdistiller.utils.paths.repo_root`)."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from mmdet3d.registry import DATASETS

from mmdet3d_pointdistiller.quickstart.complexity import (count_flops, count_params,
                                                          measure_latency)
from mmdet3d_pointdistiller.quickstart.metrics import extract_ap40, final_val_metrics
from mmdet3d_pointdistiller.utils.json_io import read_json, write_json
from mmdet3d_pointdistiller.utils.paths import SIM_ROOT_ENV, repo_root, sim_data_root

from ..apis.inference import gt_from_info, load_detector, load_frame, predict_frame
from ..vis import distiller_selection, plot_training_curves, render_bev
from .progress import Progress
from .settings import CONFIGS, DISPLAY, ZOO_RECORD, ZOO_TEACHER, Budget

__all__ = ['evaluate', 'evaluate_checkpoint', 'evaluate_checkpoints', 'pictures',
           'shipped_teacher', 'val_batches']


def val_batches(cfg, num: int) -> List[dict]:
    """The first ``num`` validation frames of ``cfg`` as one-frame batches."""
    init_default_scope('mmdet3d')
    ds = DATASETS.build(cfg.val_dataloader.dataset)
    return [pseudo_collate([ds[i]]) for i in range(min(num, len(ds)))]


def evaluate(runs: Dict[str, dict], work_root: Path, b: Budget, env: Dict[str, str],
             progress: Progress, threads: int,
             repo: Optional[Union[str, Path]] = None) -> Dict[str, dict]:
    """Final KittiMetric values, params, GFLOPs and CPU latency of the three models.

    AP values are the KittiMetric validation the training run ended with (its last
    iteration, the final weights). The distilled student is exported with
    ``tools/export_student.py`` (strict-load check into the plain student config), and its
    params / FLOPs / latency are measured on that exported, plain model. The configs are
    parsed with the run's data root (``env['PD_SIM_KITTI']``), restored afterwards.
    """
    with sim_data_root(env[SIM_ROOT_ENV]):
        return _evaluate(runs, work_root, b, env, progress, threads, repo)


def _evaluate(runs: Dict[str, dict], work_root: Path, b: Budget, env: Dict[str, str],
              progress: Progress, threads: int,
              repo: Optional[Union[str, Path]] = None) -> Dict[str, dict]:
    """:func:`evaluate` with the data root set."""
    repo = repo_root(repo)
    torch.set_num_threads(threads)
    kd = runs['pointdistiller']
    exported = kd['work_dir'] / 'student_exported.pth'
    progress.update(0.02, f'exporting the distilled student to {exported}')
    proc = subprocess.run([sys.executable, str(repo / 'tools/export_student.py'),
                           str(kd['ckpt']), str(exported), '--config',
                           str(repo / CONFIGS['student'])], cwd=repo, env=env,
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
        model, cfg = load_detector(str(repo / config), str(ckpt))
        if batches is None:
            batches = val_batches(cfg, max(b.latency_frames, 1))
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
             progress: Progress, threads: int, score_thr: float = 0.3,
             repo: Optional[Union[str, Path]] = None) -> Dict[str, List[str]]:
    """BEV PNGs per model on the first ``vis_frames`` val frames, and the training curves."""
    repo = repo_root(repo)
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
        model, cfg = load_detector(str(repo / config), str(ckpt), cfg_options=opts)
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


def shipped_teacher(root: Path, b: Budget, data_seed: int, work_root: Path, threads: int,
                    force: bool, repo: Optional[Union[str, Path]] = None) -> dict:
    """The shipped zoo teacher as a quickstart run: its checkpoint and its KittiMetric AP40
    on this val split (the zoo record's values when the dataset is the zoo's, else measured
    once with ``Runner.test`` and cached in ``<work_root>/teacher_eval.json``)."""
    repo = repo_root(repo)
    ckpt = repo / ZOO_TEACHER
    if not ckpt.is_file():
        raise SystemExit(f'{ckpt} is missing: the shipped teacher comes with the repository '
                         f'(or train it: tools/quickstart.py --train-teacher)')
    zoo = read_json(repo / ZOO_RECORD)
    if zoo is None:
        raise SystemExit(f'{repo / ZOO_RECORD} is missing (the zoo record of {ckpt.name})')
    out = dict(work_dir=None, ckpt=ckpt, iters=zoo['train_iters'], ran=False, seconds=None,
               metrics_step=zoo['train_iters'])
    if (b.num_train, b.num_val, data_seed) == (
            zoo['train_frames'], zoo['val_frames'], zoo['data_seed']):
        return dict(out, ap=zoo['ap'], note=f'AP of the zoo record {ZOO_RECORD}')
    cache = work_root / 'teacher_eval.json'
    cached = read_json(cache)
    key = dict(num_train=b.num_train, num_val=b.num_val, data_seed=data_seed,
               sha256=zoo['sha256'])
    if cached is not None and cached.get('key') == key and not force:
        return dict(out, ap=cached['ap'], note=f'AP measured earlier ({cache})')
    ap = extract_ap40(evaluate_checkpoint(CONFIGS['teacher'], str(ckpt), str(root),
                                          str(work_root / 'teacher_test'), threads, repo=repo))
    write_json(cache, dict(key=key, ap=ap))
    return dict(out, ap=ap, ran=True, note=f'AP measured on this val split ({cache})')


def evaluate_checkpoints(jobs: Sequence[Tuple[str, str, str]], data_root: str,
                         threads: int = 1, repo: Optional[Union[str, Path]] = None
                         ) -> List[Dict[str, float]]:
    """KittiMetric of several checkpoints on the val split of ``data_root``, one after the
    other in **one** subprocess (mmengine's ``Runner.test``, the path of ``mim test``): the
    imports and the compilation of KittiMetric's numba kernels are paid once, not per
    checkpoint.

    Args:
        jobs: ``(config, checkpoint, work_dir)`` triples; a relative ``config`` is read from the
            repository root ``repo`` (see :func:`~mmdet3d_pointdistiller.utils.paths.repo_root`).
        data_root: a converted KITTI-format folder (``kitti_infos_val.pkl`` and the points).
        threads: torch threads of the subprocess.

    Returns:
        list[dict]: the metric dict of every job, in order.
    """
    repo = repo_root(repo)
    script = (
        'import json, sys, torch\n'
        f'torch.set_num_threads({int(threads)})\n'
        'import mmdet3d_pointdistiller\n'
        'from mmengine.config import Config\n'
        'from mmengine.runner import Runner\n'
        'root, args = sys.argv[1], sys.argv[2:]\n'
        'for i in range(0, len(args), 3):\n'
        '    cfg = Config.fromfile(args[i])\n'
        '    cfg.load_from, cfg.work_dir = args[i + 1], args[i + 2]\n'
        '    cfg.test_evaluator.ann_file = root + "kitti_infos_val.pkl"\n'
        '    cfg.test_dataloader.dataset.data_root = root\n'
        '    metrics = Runner.from_cfg(cfg).test()\n'
        '    print(f"PD_METRICS_{i // 3}=" + json.dumps({k: float(v) for k, v in '
        'metrics.items()}), flush=True)\n')
    root = str(Path(data_root).resolve()) + '/'
    env = dict(os.environ, PD_SIM_KITTI=root, OMP_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join([str(repo)] + ([os.environ['PYTHONPATH']] if
                                                         os.environ.get('PYTHONPATH') else [])))
    argv = [str(a) for config, ckpt, work in jobs for a in (repo / config, ckpt, work)]
    proc = subprocess.run([sys.executable, '-c', script, root, *argv], cwd=repo, env=env,
                          capture_output=True, text=True)
    found = {}
    for line in proc.stdout.splitlines():
        if line.startswith('PD_METRICS_'):
            key, value = line[len('PD_METRICS_'):].split('=', 1)
            found[int(key)] = json.loads(value)
    if proc.returncode != 0 or len(found) != len(jobs):
        failed = jobs[len(found)][1] if len(found) < len(jobs) else jobs[-1][1]
        raise RuntimeError(f'testing {failed} on {root} failed (exit {proc.returncode}):\n'
                           + (proc.stdout + proc.stderr)[-4000:])
    return [found[i] for i in range(len(jobs))]


def evaluate_checkpoint(config: str, checkpoint: str, data_root: str, work_dir: str,
                        threads: int = 1,
                        repo: Optional[Union[str, Path]] = None) -> Dict[str, float]:
    """KittiMetric of ``checkpoint`` on the val split of ``data_root`` in a subprocess with
    ``threads`` torch threads (:func:`evaluate_checkpoints` with one job). Returns the metric
    dict."""
    return evaluate_checkpoints([(config, checkpoint, work_dir)], data_root, threads, repo)[0]
