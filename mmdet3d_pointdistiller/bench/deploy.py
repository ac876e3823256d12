"""Deployment benchmark: ONNX Runtime vs PyTorch eager with the parity of every exported model.

The harness behind ``tools/benchmark_deploy.py`` (its docstring gives what is measured and the
commands). Models: :data:`mmdet3d_pointdistiller.deploy.models.MODEL_NAMES` (PointPillars
teacher / 4x / 16x on the KITTI and the simulated grids; the sim pillar CenterPoint 16x
student).
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from argparse import Namespace
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import torch

from ..deploy import (EXPORTER, ONNX_OPSET, OnnxPointPillars, TorchPointPillars, build_detector,
                      check_exportable, compare_predictions, export_onnx, max_abs_diff,
                      named_config)
from ..deploy.models import save_random_detector
from ..utils import cpu_model_name
from ..utils.paths import checkout_root

__all__ = ['KITTI_REAL', 'sim_frames', 'load_points', 'bench_model', 'write_markdown', 'run']

REPO = checkout_root()
KITTI_REAL = REPO / 'tests' / 'data' / 'kitti_real'


def sim_frames(root: Path, n: int) -> List[Path]:
    """The first ``n`` frames of the val split of a simulated dataset."""
    ids = (root / 'ImageSets' / 'val.txt').read_text().split()
    if len(ids) < n:
        raise SystemExit(f'{root} has {len(ids)} val frames, {n} needed; generate them with '
                         f'python tools/simulate_kitti.py --out {root} --num-train 4 '
                         f'--num-val {n} --workers 1 --no-progress')
    return [root / 'training' / 'velodyne' / f'{i}.bin' for i in ids[:n]]


def load_points(path: Path) -> torch.Tensor:
    """(N, 4) float32 x, y, z, intensity."""
    return torch.from_numpy(np.fromfile(str(path), dtype=np.float32).reshape(-1, 4))


def _ms(values: List[float]) -> float:
    return 1e3 * statistics.median(values)


def bench_model(name: str, frames: List[Path], args: Namespace,
                log) -> Dict[str, Any]:
    """Export, parity and latency of one named model."""
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    cfg = named_config(name)
    model_cfg = check_exportable(cfg)
    ckpt = work / f'{name}.pth'
    save_random_detector(model_cfg, ckpt, seed=args.seed)
    detector = build_detector(cfg, ckpt)
    clouds = [load_points(f) for f in frames]
    t0 = time.perf_counter()
    onnx_path = export_onnx(detector, model_cfg, work / f'{name}.onnx', clouds[0])
    export_s = time.perf_counter() - t0
    ref = TorchPointPillars(detector, model_cfg)
    ort_model = OnnxPointPillars(onnx_path, threads=1)

    # parity, every frame
    diffs, boxes = [], []
    for points in clouds:
        voxels = ref.voxelise(points)
        diffs.append(max_abs_diff(ref.run_net(voxels), ort_model.run_net(voxels)))
        boxes.append(compare_predictions(ref.predict(points), ort_model.predict(points)))
    parity = dict(
        max_abs_diff=max(d['max_abs_diff'] for d in diffs),
        max_rel_diff=max(d['max_rel_diff'] for d in diffs),
        boxes_equal=all(b['boxes_equal'] for b in boxes),
        min_iou=min(b['min_iou'] for b in boxes),
        max_score_diff=max(b['max_score_diff'] for b in boxes),
        max_box_param_diff=max(b['max_box_diff'] for b in boxes),
        frames=len(clouds), boxes_per_frame=[b['count_ref'] for b in boxes])
    log(f'  {name}: parity max|diff| {parity["max_abs_diff"]:.2e}, boxes equal '
        f'{parity["boxes_equal"]} ({sum(parity["boxes_per_frame"])} boxes on '
        f'{len(clouds)} frames), export {export_s:.1f} s')

    # latency: the KITTI frame repeated, or each sim frame once; runtimes alternate
    order = clouds * args.repeats if len(clouds) == 1 else clouds
    for points in clouds[:1] * args.warmup:
        ref.predict(points)
        ort_model.predict(points)
    times: Dict[str, List[float]] = {k: [] for k in ('torch', 'torch_net', 'ort', 'ort_net')}
    pillars = []
    for points in order:
        for runtime, runner in (('torch', ref), ('ort', ort_model)):
            parts: Dict[str, float] = {}
            t = time.perf_counter()
            runner.predict(points, parts)
            times[runtime].append(time.perf_counter() - t)
            times[f'{runtime}_net'].append(parts['net'])
        pillars.append(len(ref.voxelise(points)['voxels']))
    params = sum(p.numel() for p in detector.parameters())
    model = dict(torch_ms=_ms(times['torch']), ort_ms=_ms(times['ort']),
                 torch_net_ms=_ms(times['torch_net']), ort_net_ms=_ms(times['ort_net']),
                 params_m=params / 1e6, timed_runs=len(order),
                 grid=list((model_cfg.get('middle_encoder')
                            or model_cfg.pts_middle_encoder).output_shape),
                 median_pillars=int(statistics.median(pillars)),
                 onnx_mb=onnx_path.stat().st_size / 1e6, export_s=export_s)
    log(f'  {name}: torch {model["torch_ms"]:.1f} ms (net {model["torch_net_ms"]:.1f}), '
        f'ORT {model["ort_ms"]:.1f} ms (net {model["ort_net_ms"]:.1f}), '
        f'{model["params_m"]:.3f} M params')
    return dict(model=model, parity=parity)


def write_markdown(result: Dict[str, Any], path: Path) -> None:
    models, parity = result['models'], result['parity']
    lines = ['# Deployment: ONNX Runtime vs PyTorch eager', '',
             f'Command: `{result["command"]}`  ',
             f'Machine: {result["machine"]}  ',
             f'Wall time: {result["elapsed_s"]:.0f} s. Exporter: {result["exporter"]}, opset '
             f'{result["opset"]}; onnxruntime {result["onnxruntime"]}, torch {result["torch"]}.',
             '',
             'Random weights (`save_random_detector`): latency and parity do not depend on '
             'training; accuracy is not measured here. One thread for both runtimes. '
             '`*_kitti`: full KITTI grid (432 x 496 pillars), real frame 000008, '
             f'{result["settings"]["repeats"]} timed runs; `*_sim`: simulated grid (128 x 128), '
             f'{result["settings"]["num_sim_frames"]} simulated val frames, each once. '
             'End to end = mmdet3d voxelisation + network + mmdet3d `predict_by_feat`; '
             'medians per frame.', '',
             '| model | params (M) | grid | pillars | PyTorch ms | ORT ms | PyTorch net ms | '
             'ORT net ms | ORT speed-up |', '|---|---|---|---|---|---|---|---|---|']
    for name, m in models.items():
        lines.append(f"| {name} | {m['params_m']:.3f} | {m['grid'][1]} x {m['grid'][0]} | "
                     f"{m['median_pillars']} | {m['torch_ms']:.1f} | {m['ort_ms']:.1f} | "
                     f"{m['torch_net_ms']:.1f} | {m['ort_net_ms']:.1f} | "
                     f"{m['torch_ms'] / m['ort_ms']:.2f}x |")
    lines += ['', '| model | frames | boxes (total) | max abs diff (raw head) | '
              'max rel diff | boxes equal | min matched IoU | max score diff |',
              '|---|---|---|---|---|---|---|---|']
    for name, p in parity.items():
        lines.append(f"| {name} | {p['frames']} | {sum(p['boxes_per_frame'])} | "
                     f"{p['max_abs_diff']:.2e} | {p['max_rel_diff']:.2e} | {p['boxes_equal']} | "
                     f"{p['min_iou']:.6f} | {p['max_score_diff']:.2e} |")
    lines += ['']
    for key, value in result['ratios'].items():
        lines.append(f'- {key}: **{value:.2f}x**')
    lines += ['', result['goal'], '']
    path.write_text('\n'.join(lines))


def run(args: Namespace, command: str) -> Dict[str, Any]:
    """Benchmark ``args.models``; writes ``deploy.json`` and ``deploy.md`` to ``args.out_dir``
    and returns the record."""
    torch.set_num_threads(1)
    import onnxruntime  # lazy: optional dependency (onnxruntime, the deploy extra)
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    frames = dict(kitti=[Path(args.kitti_frame)],
                  sim=sim_frames(Path(args.sim_root), args.num_sim_frames))
    result: Dict[str, Any] = dict(models={}, parity={}, command=command)
    for name in args.models:
        log(f'[{time.perf_counter() - started:.0f}s] {name}')
        res = bench_model(name, frames[name.split('_')[1]], args, log)
        result['models'][name] = res['model']
        result['parity'][name] = res['parity']
    ratios = {}
    m = result['models']
    for grid in ('kitti', 'sim'):
        t, s16, s4 = f'teacher_{grid}', f'16x_{grid}', f'4x_{grid}'
        if t in m and s16 in m:
            ratios[f'ORT end to end, {t} / {s16}'] = m[t]['ort_ms'] / m[s16]['ort_ms']
            ratios[f'ORT network, {t} / {s16}'] = m[t]['ort_net_ms'] / m[s16]['ort_net_ms']
        if t in m and s4 in m:
            ratios[f'ORT end to end, {t} / {s4}'] = m[t]['ort_ms'] / m[s4]['ort_ms']
    if 'teacher_sim' in m and 'cp-16x_sim' in m:
        ratios['ORT end to end, teacher_sim / cp-16x_sim'] = (m['teacher_sim']['ort_ms']
                                                              / m['cp-16x_sim']['ort_ms'])
    goal_key = 'ORT end to end, teacher_kitti / 16x_kitti'
    goal = ''
    if goal_key in ratios:
        met = ratios[goal_key] >= 5
        goal = (f'Goal (issue 15): ORT 16x student >= 5x faster than the ORT teacher end to end '
                f'on the KITTI grid: {ratios[goal_key]:.2f}x, '
                f'{"met" if met else "NOT met"}.')
    result.update(ratios=ratios, goal=goal, elapsed_s=time.perf_counter() - started,
                  machine=f'{cpu_model_name()}, {platform.machine()}, {os.cpu_count()} cores, '
                          f'1 thread used; 1-min load average {load_start:.2f} at the start, '
                          f'{os.getloadavg()[0]:.2f} at the end',
                  exporter=EXPORTER, opset=ONNX_OPSET, onnxruntime=onnxruntime.__version__,
                  torch=torch.__version__,
                  settings=dict(repeats=args.repeats, warmup=args.warmup,
                                num_sim_frames=args.num_sim_frames, seed=args.seed,
                                sim_root=str(args.sim_root),
                                # repository-relative: no machine's absolute path in the record
                                kitti_frame=os.path.relpath(args.kitti_frame, REPO)))
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'deploy.json').write_text(json.dumps(result, indent=1))
    write_markdown(result, out / 'deploy.md')
    log(f'wrote {out / "deploy.json"} and {out / "deploy.md"} in {result["elapsed_s"]:.0f} s')
    log(goal)
    return result
