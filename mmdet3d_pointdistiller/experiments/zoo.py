"""The simulated-dataset model zoo: shipping a trained checkpoint (fp16 storage), its
learning curve, its evaluation, and the few-frame check a test repeats.

Used by ``tools/train_sim_zoo.py`` (which trains, evaluates and writes
``checkpoints/sim/<name>.json`` and ``configs/sim/README.md``) and by
``tests/test_sim_zoo.py`` (which re-creates a few val frames with the simulator and checks
that the shipped checkpoint reproduces the recorded mAP on them).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint, set_random_seed
from scipy.optimize import linear_sum_assignment

from mmdet3d.registry import MODELS

from mmdet3d_pointdistiller.compat import safe_torch_load
from mmdet3d_pointdistiller.engine.hooks import update_bn_stats
from mmdet3d_pointdistiller.quickstart.metrics import (CLASSES, DIFFICULTIES, PREFIX,
                                                       extract_ap40, moderate_map)
from mmdet3d_pointdistiller.sim import LidarSpec, generate_dataset, mmdet3d_mim_root
from mmdet3d_pointdistiller.utils.paths import SIM_ROOT_ENV, repo_root, sim_data_root
from mmdet3d_pointdistiller.utils.scalars import read_scalars

from ..apis.inference import load_detector, load_frame, predict_frame
from ..quickstart.evaluation import evaluate_checkpoints

__all__ = ['sha256_file', 'save_fp16_checkpoint', 'curve_point', 'learning_curve',
           'precise_bn_checkpoint', 'make_val_subset', 'few_frame_check', 'few_frame_checks',
           'match_predictions', 'prediction_diff', 'compare_predictions']


def sha256_file(path: os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def save_fp16_checkpoint(src: os.PathLike, dst: os.PathLike, meta: Optional[dict] = None
                         ) -> Dict[str, int]:
    """Write the weights of runner checkpoint ``src`` with floating tensors stored as fp16
    (loading copies them into the float32 model); no optimizer or message hub.

    Returns:
        dict: ``tensors``, ``fp16_tensors``, ``bytes``.
    """
    state = safe_torch_load(str(src), map_location='cpu')
    state = state.get('state_dict', state)
    out, n16 = {}, 0
    for k, v in state.items():
        if torch.is_tensor(v) and v.is_floating_point():
            v16 = v.half()
            if not torch.isfinite(v16).all():
                raise ValueError(f'{k} overflows fp16 (max |x| {float(v.abs().max()):.3g}); '
                                 f'ship this checkpoint in float32')
            out[k], n16 = v16, n16 + 1
        else:
            out[k] = v
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    torch.save({'state_dict': out, 'meta': dict(meta or {}, storage='fp16')}, str(dst))
    return dict(tensors=len(out), fp16_tensors=n16, bytes=Path(dst).stat().st_size)


def curve_point(metrics: Dict[str, float], step: Optional[int]) -> dict:
    """One learning-curve entry from a KittiMetric result: ``step`` and ``ap`` =
    ``{'strict' | 'loose': {view: {class: {difficulty: AP40}}}}`` (strict = official IoU
    0.7 / 0.5 / 0.5 for Car / Pedestrian / Cyclist, loose = 0.5 / 0.25 / 0.25), plus the
    moderate 3D / BEV mAP of the strict thresholds."""
    ap = {th: {view: {c: {d: float(metrics[f'{PREFIX}{c}_{view}_AP40_{d}_{th}'])
                          for d in DIFFICULTIES} for c in CLASSES}
               for view in ('BEV', '3D')} for th in ('strict', 'loose')}
    return dict(step=step, ap=ap,
                map_3d=sum(ap['strict']['3D'][c]['moderate'] for c in CLASSES) / 3,
                map_bev=sum(ap['strict']['BEV'][c]['moderate'] for c in CLASSES) / 3)


def learning_curve(work_dir: str) -> List[dict]:
    """Every KittiMetric validation a training run logged (:func:`curve_point` entries)."""
    return [curve_point(rec, rec.get('step')) for rec in read_scalars(work_dir)
            if any(k.startswith(PREFIX) for k in rec)]


def make_val_subset(out: str, val_start: int, num_val: int, seed: int = 0) -> None:
    """A dataset whose val split is frames ``val_start..val_start+num_val-1`` of the
    simulator (seed ``seed``), converted by mmdet3d's ``create_data kitti`` (2 train frames,
    which the converter needs)."""
    generate_dataset(out, 2, num_val, seed=seed, spec=LidarSpec(), progress=False,
                     val_start=val_start)
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [mmdet3d_mim_root()] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    mim = Path(sys.executable).with_name('mim')
    proc = subprocess.run([str(mim) if mim.exists() else 'mim', 'run', 'mmdet3d', 'create_data',
                           'kitti', '--root-path', out, '--out-dir', out, '--extra-tag', 'kitti',
                           '--with-plane'], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError('mmdet3d create_data failed:\n' + (proc.stdout + proc.stderr)[-3000:])


def few_frame_checks(models: Sequence[Tuple[str, str]], val_start: int, num_val: int,
                     seed: int = 0, threads: int = 1, tmp: Optional[str] = None) -> List[dict]:
    """KittiMetric moderate mAP of each ``(config, checkpoint)`` on ``num_val`` val frames
    starting at ``val_start``, re-created by the simulator once for all of them (in ``tmp``, a
    temporary folder if None) and evaluated in one subprocess: per model
    ``{val_start, num_val, seed, map_3d, map_bev, car_3d_moderate}``.
    """
    own = tmp is None
    tmp = tmp or tempfile.mkdtemp(prefix='pd_zoo_check_')
    try:
        data = os.path.join(tmp, 'data')
        make_val_subset(data, val_start, num_val, seed)
        jobs = [(config, ckpt, os.path.join(tmp, f'work_{i}'))
                for i, (config, ckpt) in enumerate(models)]
        out = []
        for metrics in evaluate_checkpoints(jobs, data, threads):
            ap = extract_ap40(metrics)
            out.append(dict(val_start=val_start, num_val=num_val, seed=seed,
                            map_3d=moderate_map(ap, '3D'), map_bev=moderate_map(ap, 'BEV'),
                            car_3d_moderate=ap['3D']['Car']['moderate']))
        return out
    finally:
        if own:
            shutil.rmtree(tmp, ignore_errors=True)


def few_frame_check(config: str, checkpoint: str, val_start: int, num_val: int,
                    seed: int = 0, threads: int = 1, tmp: Optional[str] = None) -> dict:
    """:func:`few_frame_checks` of one checkpoint (the record a shipped zoo file carries)."""
    return few_frame_checks([(config, checkpoint)], val_start, num_val, seed, threads, tmp)[0]


def match_predictions(a: dict, b: dict) -> Optional[np.ndarray]:
    """Index into ``b``'s boxes of the box matched to each of ``a``'s (same label, nearest
    centre; Hungarian assignment), or ``None`` when the two frames' label multisets differ.

    Matching by position rather than by index: two boxes whose scores are within rounding of
    each other may leave NMS in either order when the weights change slightly (fp16 storage),
    which an index-by-index comparison would report as a box moved by metres.

    Args:
        a, b: ``predict_frame`` outputs: ``boxes`` (N, 7) with the centre first, ``labels`` (N,).
    """
    la, lb = np.asarray(a['labels']), np.asarray(b['labels'])
    if len(la) != len(lb) or (np.sort(la) != np.sort(lb)).any():
        return None
    ca, cb = np.asarray(a['boxes'])[:, :3], np.asarray(b['boxes'])[:, :3]
    cost = np.linalg.norm(ca[:, None] - cb[None], axis=-1)
    cost[la[:, None] != lb[None]] = 1e9  # never pair different classes
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty(len(la), dtype=np.int64)
    perm[rows] = cols
    return perm


def prediction_diff(config: str, ckpt_a: str, ckpt_b: str, points_files: Sequence[str],
                    gate_m: float = 0.5) -> dict:
    """Largest differences between the predictions of two checkpoints of one config on the
    given point clouds, boxes paired by :func:`match_predictions`: ``max_box_diff`` (m / rad)
    and ``max_score_diff`` over the pairs whose centres are within ``gate_m`` metres, on the
    frames with the same box count and labels; ``unmatched``: the pairs beyond the gate (frame,
    both scores: one box left the score threshold or NMS and another entered, as boxes near
    the threshold do when the weights are rounded), ``count_equal`` (true on every frame) and
    ``frames_differing`` (frame index, box counts, the lowest score there)."""
    preds = []
    for ckpt in (ckpt_a, ckpt_b):
        model, cfg = load_detector(str(repo_root() / config), str(ckpt))
        preds.append([predict_frame(model, load_frame(cfg, f)) for f in points_files])
    return compare_predictions(*preds, gate_m=gate_m)


def compare_predictions(preds_a: Sequence[dict], preds_b: Sequence[dict], gate_m: float = 0.5
                        ) -> dict:
    """:func:`prediction_diff`'s comparison of two models' ``predict_frame`` outputs, frame
    by frame (``boxes`` (N, 7) centre first, ``scores`` (N,), ``labels`` (N,))."""
    box, score, differing, unmatched = 0.0, 0.0, [], []
    for k, (pa, pb) in enumerate(zip(preds_a, preds_b)):
        perm = match_predictions(pa, pb)
        if perm is None:
            differing.append(dict(frame=k, boxes=[len(pa['boxes']), len(pb['boxes'])],
                                  min_score=float(min(pa['scores'].min(initial=1.0),
                                                      pb['scores'].min(initial=1.0)))))
            continue
        if not len(perm):
            continue
        boxes_b, scores_b = pb['boxes'][perm], pb['scores'][perm]
        near = np.linalg.norm(pa['boxes'][:, :3] - boxes_b[:, :3], axis=1) <= gate_m
        unmatched += [dict(frame=k, scores=[float(pa['scores'][i]), float(scores_b[i])])
                      for i in np.flatnonzero(~near)]
        if near.any():
            box = max(box, float(abs(pa['boxes'][near] - boxes_b[near]).max()))
            score = max(score, float(abs(pa['scores'][near] - scores_b[near]).max()))
    return dict(max_box_diff=box, max_score_diff=score, count_equal=not differing,
                frames=len(preds_a), frames_differing=differing, matching='hungarian',
                gate_m=gate_m, unmatched=unmatched)


def precise_bn_checkpoint(config: str, src: str, dst: str, num_batches: int = 50,
                          data_root: Optional[str] = None, seed: int = 0) -> dict:
    """Load ``src`` into ``config``'s model, recompute its BN statistics over
    ``num_batches`` training batches (:func:`~mmdet3d_pointdistiller.engine.hooks.
    update_bn_stats`) and save the weights to ``dst`` (float32, weights only).

    Returns:
        dict: ``batches`` used and the largest relative change of a running variance.
    """
    init_default_scope('mmdet3d')
    with sim_data_root(data_root or os.environ.get(SIM_ROOT_ENV)):
        cfg = Config.fromfile(str(repo_root() / config))
    set_random_seed(seed)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, str(src), map_location='cpu', strict=True)
    before = {k: v.clone() for k, v in model.state_dict().items() if k.endswith('running_var')}
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=seed)
    used = update_bn_stats(model, loader, num_batches)
    after = model.state_dict()
    change = max(float(((after[k] - v).abs() / v.abs().clamp_min(1e-6)).max())
                 for k, v in before.items())
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    torch.save({'state_dict': model.state_dict(), 'meta': dict(precise_bn=used, source=str(src))},
               str(dst))
    return dict(batches=used, max_rel_var_change=change)
