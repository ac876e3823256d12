"""The quickstart's models measured: the shipped teacher and converged students
(``shipped_models``) tested with KittiMetric on this run's val split and counted and timed
(``evaluate_models``), BEV pictures and the demo's training curves (``pictures``). Configs and
shipped files are read relative to the repository root ``repo`` (see
:func:`~mmdet3d_pointdistiller.utils.paths.repo_root`)."""
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
from mmdet3d_pointdistiller.quickstart.metrics import extract_ap40
from mmdet3d_pointdistiller.utils.json_io import read_json
from mmdet3d_pointdistiller.utils.paths import repo_root, sim_data_root

from ..apis.inference import gt_from_info, load_detector, load_frame, predict_frame
from ..vis import distiller_selection, plot_training_curves, render_bev
from .progress import Progress
from .settings import CONFIGS, DISPLAY, ZOO_RECORD, ZOO_STUDENTS, ZOO_TEACHER, Budget

__all__ = ['evaluate_checkpoint', 'evaluate_checkpoints', 'evaluate_models', 'pictures',
           'shipped_models', 'shipped_teacher', 'val_batches']


def val_batches(cfg, num: int) -> List[dict]:
    """The first ``num`` validation frames of ``cfg`` as one-frame batches."""
    init_default_scope('mmdet3d')
    ds = DATASETS.build(cfg.val_dataloader.dataset)
    return [pseudo_collate([ds[i]]) for i in range(min(num, len(ds)))]


def shipped_models(teacher_ckpt: Union[str, Path], repo: Optional[Union[str, Path]] = None
                   ) -> Dict[str, dict]:
    """The models the quickstart evaluates: the teacher (``teacher_ckpt``: the shipped zoo
    file, or the one ``--train-teacher`` trained) and the shipped converged 16x students of
    :data:`~.settings.ZOO_STUDENTS` whose record and file are in the repository.

    Returns:
        dict: name -> ``config`` (deployment config), ``ckpt`` (Path), ``record`` (the zoo
        record, None for a teacher trained here).
    """
    repo = repo_root(repo)
    teacher_ckpt = Path(teacher_ckpt)
    models = {'teacher': dict(config=CONFIGS['teacher'], ckpt=teacher_ckpt,
                              record=read_json(repo / ZOO_RECORD)
                              if teacher_ckpt == repo / ZOO_TEACHER else None)}
    for name, rec_path in ZOO_STUDENTS.items():
        rec = read_json(repo / rec_path)
        if rec is not None and (repo / rec['checkpoint']).is_file():
            models[name] = dict(config=rec['deploy_config'], ckpt=repo / rec['checkpoint'],
                                record=rec)
    return models


def evaluate_models(models: Dict[str, dict], work_root: Path, data_root: Path, b: Budget,
                    progress: Progress, threads: int,
                    repo: Optional[Union[str, Path]] = None) -> Dict[str, dict]:
    """KittiMetric AP40 of every model of :func:`shipped_models` on this run's val split
    (``Runner.test``, the ``mim test`` path, all models in one subprocess), then its
    parameters, GFLOPs and CPU ms/frame on ``b.latency_frames`` val frames.

    Returns:
        dict: name -> ``name`` (display), ``kd``, ``config``, ``checkpoint``, ``params_m``,
        ``gflops``, ``gflops_per_module``, ``latency_ms``, ``latency``, ``ap`` (measured
        here), ``record_ap`` (the zoo record's, measured on the zoo's val split; None for a
        teacher trained here) and ``train_iters``.
    """
    repo = repo_root(repo)
    names = list(models)
    progress.update(0.05, f"KittiMetric of {', '.join(names)} on {b.num_val} val frames "
                          '(one mim-test process)')
    metrics = evaluate_checkpoints(
        [(models[n]['config'], str(models[n]['ckpt']), str(work_root / 'test' / n))
         for n in names], str(data_root), threads, repo)
    results = {}
    torch.set_num_threads(threads)
    with sim_data_root(str(data_root)):
        batches = None
        for k, name in enumerate(names):
            m = models[name]
            model, cfg = load_detector(str(repo / m['config']), str(m['ckpt']))
            if batches is None:
                batches = val_batches(cfg, max(b.latency_frames, 1))
            progress.update(0.6 + 0.35 * k / len(names),
                            f'{name}: params, FLOPs and latency on {len(batches)} val frames')
            flops = count_flops(model, batches)
            lat = measure_latency(model, batches, warmup=2)
            rec = m.get('record')
            results[name] = dict(
                name=DISPLAY[name], kd=name == 'zoo_pointdistiller', config=m['config'],
                checkpoint=str(m['ckpt']), params_m=count_params(model) / 1e6,
                gflops=flops['gflops'], gflops_per_module=flops['per_module'],
                latency_ms=lat['median_ms'], latency=lat, ap=extract_ap40(metrics[k]),
                record_ap=rec['ap'] if rec else None,
                train_iters=rec['train_iters'] if rec else None)
    return results


# ----------------------------------------------------------------------------- pictures
def pictures(models: Dict[str, dict], demo: dict, work_root: Path, data_root: Path, b: Budget,
             progress: Progress, threads: int, score_thr: float = 0.3,
             repo: Optional[Union[str, Path]] = None,
             teacher_run: Optional[dict] = None) -> Dict[str, List[str]]:
    """BEV PNGs on the first ``vis_frames`` val frames of every evaluated model
    (:func:`shipped_models`) and of the live demo (with the pillars its distiller selected,
    coloured by weight), and the training curves of the demo (and of a teacher trained here,
    ``teacher_run``)."""
    repo = repo_root(repo)
    torch.set_num_threads(threads)
    out_dir = work_root / 'bev'
    info_file = data_root / 'kitti_infos_val.pkl'
    with open(info_file, 'rb') as f:
        frames = [int(fr['sample_idx']) for fr in pickle.load(f)['data_list'][:b.vis_frames]]
    files: Dict[str, List[str]] = {}
    models = {
        **{n: (m['config'], m['ckpt'], {}) for n, m in models.items()},
        # the distillation config: predictions of its student + the distiller's selection
        'pointdistiller': (CONFIGS['pointdistiller'], demo['ckpt'],
                           {'model.teacher_ckpt': str(models['teacher']['ckpt'])}),
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
    runs = {'pointdistiller': demo, 'teacher': teacher_run or {}}
    curves = plot_training_curves({DISPLAY[n]: str(r['work_dir']) for n, r in runs.items()
                                   if r.get('work_dir')},
                                  str(work_root / 'training_curves.png'))
    files['curves'] = [curves]
    return files


def shipped_teacher(repo: Optional[Union[str, Path]] = None) -> Path:
    """The shipped zoo teacher's file (raises naming the way out when it is missing)."""
    repo = repo_root(repo)
    ckpt = repo / ZOO_TEACHER
    if not ckpt.is_file():
        raise SystemExit(f'{ckpt} is missing: the shipped teacher comes with the repository '
                         f'(or train it: tools/quickstart.py --train-teacher)')
    if read_json(repo / ZOO_RECORD) is None:
        raise SystemExit(f'{repo / ZOO_RECORD} is missing (the zoo record of {ckpt.name})')
    return ckpt


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
