"""CPU train-step and predict times of the stock mmdet3d detectors, and the CPU point ops (the
work of ``tools/benchmark_cpu_detectors.py``; its docstring says what is timed and how).
"""
import json
import os
import platform
import statistics
import sys
import time
from argparse import Namespace
from pathlib import Path
from typing import Callable, Dict

import mmcv
import mmengine
import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.hub import get_config
from mmengine.registry import init_default_scope

import mmdet3d
from mmdet3d.registry import MODELS

from ..ops import (ball_query_cpu, furthest_point_sample_cpu, gather_points_cpu,
                   grouping_operation_cpu, points_in_boxes_all_cpu, roipoint_pool3d_cpu,
                   three_interpolate_cpu, three_nn_cpu)
from ..utils import cpu_model_name, load_kitti_frame
from ..utils.paths import checkout_root

__all__ = ['CONFIGS', 'DEFAULT_FRAME', 'bench_detector', 'bench_point_ops', 'write_report', 'run']

ROOT = checkout_root()
DEFAULT_FRAME = ROOT / 'tests' / 'data' / 'kitti_real'
CONFIGS = {
    'pointpillars': 'mmdet3d::pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py',
    'second': 'mmdet3d::second/second_hv_secfpn_8xb6-80e_kitti-3d-3class.py',
    'point_rcnn': 'mmdet3d::point_rcnn/point-rcnn_8xb2_kitti-3d-3class.py',
}
RCNN_POINTS = 16384


def _median_time(fn: Callable[[], None], repeats: int) -> Dict[str, float]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return dict(median_s=statistics.median(times), min_s=min(times), max_s=max(times))


def bench_detector(name: str, frame_dir: Path, batch: int, repeats: int) -> Dict[str, Dict]:
    """Train-step and predict times of one stock detector on the real frame."""
    init_default_scope('mmdet3d')
    torch.manual_seed(0)
    cfg = get_config(CONFIGS[name])
    model = MODELS.build(cfg.model)
    num_points = RCNN_POINTS if name == 'point_rcnn' else None
    train_item = load_kitti_frame(frame_dir, cfg.point_cloud_range, train=True,
                                  num_points=num_points)
    test_item = load_kitti_frame(frame_dir, cfg.point_cloud_range, train=False,
                                 num_points=num_points)
    optim = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-5)

    def train_step():
        model.train()
        data = model.data_preprocessor(pseudo_collate([train_item] * batch), training=True)
        loss, _ = model.parse_losses(model(**data, mode='loss'))
        optim.zero_grad()
        loss.backward()
        optim.step()

    def predict():
        model.eval()
        with torch.no_grad():
            data = model.data_preprocessor(pseudo_collate([test_item]), training=False)
            model(**data, mode='predict')

    n_params = sum(p.numel() for p in model.parameters())
    return dict(train_step=_median_time(train_step, repeats),
                predict=_median_time(predict, repeats), params_m=n_params / 1e6, batch=batch,
                config=CONFIGS[name])


def bench_point_ops(frame_dir: Path, repeats: int) -> Dict[str, Dict]:
    """The CPU point ops at PointRCNN's sizes, on the real frame's points."""
    pts = np.fromfile(frame_dir / '000008.bin', dtype=np.float32).reshape(-1, 4)[:, :3]
    pts = pts[(pts[:, 0] > 0) & (pts[:, 0] < 70.4) & (np.abs(pts[:, 1]) < 40)]
    rng = np.random.default_rng(0)
    idx = rng.choice(len(pts), RCNN_POINTS, replace=len(pts) < RCNN_POINTS)
    xyz = torch.from_numpy(pts[idx]).unsqueeze(0).contiguous()  # (1, 16384, 3)
    feats = torch.randn(1, 128, RCNN_POINTS)
    out: Dict[str, Dict] = {}
    fps = furthest_point_sample_cpu(xyz, 4096)
    centres = gather_points_cpu(xyz.transpose(1, 2).contiguous(), fps).transpose(1, 2)
    centres = centres.contiguous()  # (1, 4096, 3)
    out['furthest_point_sample 16384->4096'] = _median_time(
        lambda: furthest_point_sample_cpu(xyz, 4096), repeats)
    out['ball_query r=0.8 m, 4096 centres, 32 samples'] = _median_time(
        lambda: ball_query_cpu(0.0, 0.8, 32, xyz, centres), repeats)
    group_idx = ball_query_cpu(0.0, 0.8, 32, xyz, centres)
    out['grouping_operation 128 ch, 4096x32'] = _median_time(
        lambda: grouping_operation_cpu(feats, group_idx), repeats)
    out['three_nn 16384 <- 4096'] = _median_time(
        lambda: three_nn_cpu(xyz, centres), repeats)
    dist, nn_idx = three_nn_cpu(xyz, centres)
    weight = torch.rand(1, RCNN_POINTS, 3)
    feats_c = torch.randn(1, 128, 4096)
    out['three_interpolate 128 ch, 4096 -> 16384'] = _median_time(
        lambda: three_interpolate_cpu(feats_c, nn_idx, weight), repeats)
    boxes = torch.tensor([[[x, y, -1.0, 3.9, 1.6, 1.56, 0.3] for x in range(5, 65, 6)
                           for y in (-6.0, -2.0, 2.0, 6.0)]])  # (1, 40, 7) bottom centres
    out['points_in_boxes_all 16384 pts, 40 boxes'] = _median_time(
        lambda: points_in_boxes_all_cpu(xyz, boxes), repeats)
    out['RoIPointPool3d 40 boxes x 512 pts, 128 ch'] = _median_time(
        lambda: roipoint_pool3d_cpu(xyz, feats.transpose(1, 2).contiguous(), boxes, 512),
        repeats)
    return out


def _versions() -> Dict[str, str]:
    return dict(python=platform.python_version(), torch=torch.__version__,
                mmengine=mmengine.__version__, mmcv=mmcv.__version__,
                mmdet3d=mmdet3d.__version__)


def write_report(result: Dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / 'cpu_detectors.json').write_text(json.dumps(result, indent=2))
    lines = ['# Stock mmdet3d detectors on CPU', '',
             f"Command: `{result['command']}`  ",
             f"Machine: {result['machine']['cpu']}, {result['machine']['threads']} torch "
             f"threads, load average at start {result['machine']['load_avg']}  ",
             'Versions: ' + ', '.join(f'{k} {v}' for k, v in result['versions'].items()), '',
             f"Real KITTI frame 000008, stock KITTI 3-class configs; train step = loss + backward "
             f"+ SGD step on a batch of {result['batch']} copies; predict = one frame. Median of "
             f"{result['repeats']} after a warm-up.", '',
             '| detector | params (M) | train step (s) | predict (s/frame) |', '|---|---|---|---|']
    for name, r in result['detectors'].items():
        lines.append(f"| {name} | {r['params_m']:.2f} | {r['train_step']['median_s']:.2f} | "
                     f"{r['predict']['median_s']:.2f} |")
    lines += ['', '## CPU point ops (compat/point_ops_cpu.py), PointRCNN sizes', '',
              '| op | median (ms) |', '|---|---|']
    for name, r in result['point_ops'].items():
        lines.append(f"| {name} | {1000 * r['median_s']:.1f} |")
    (out_dir / 'cpu_detectors.md').write_text('\n'.join(lines) + '\n')


def run(args: Namespace, command: str) -> Dict:
    """Measure ``args.detectors`` and the point ops; write ``cpu_detectors.{md,json}`` to
    ``args.out_dir``; returns the record (``command`` stored in it)."""
    if torch.cuda.is_available():
        sys.exit('this benchmark measures the CPU path; run it on a machine without CUDA '
                 '(or with CUDA_VISIBLE_DEVICES="")')
    torch.set_num_threads(args.threads)
    result = dict(
        command=command,
        machine=dict(cpu=cpu_model_name(), cores=os.cpu_count(), threads=args.threads,
                     load_avg=[round(x, 2) for x in os.getloadavg()]),
        versions=_versions(), batch=args.batch, repeats=args.repeats, detectors={})
    for name in args.detectors:
        t0 = time.perf_counter()
        result['detectors'][name] = bench_detector(name, args.frame_dir, args.batch, args.repeats)
        r = result['detectors'][name]
        print(f"{name:13s} train step {r['train_step']['median_s']:.2f} s (batch {args.batch}), "
              f"predict {r['predict']['median_s']:.2f} s/frame  [{time.perf_counter() - t0:.0f} s]",
              flush=True)
    result['point_ops'] = bench_point_ops(args.frame_dir, args.repeats)
    for name, r in result['point_ops'].items():
        print(f'{name:45s} {1000 * r["median_s"]:8.1f} ms', flush=True)
    write_report(result, args.out_dir)
    print(f'wrote {args.out_dir / "cpu_detectors.md"} and .json')
    return result
