"""The whole benchmark: every KD-loss case and the sweeps in forkserver workers, then the
train step in this process; returns the record that :mod:`.report` renders."""
import argparse
import os
import platform
import time
from typing import Any, Callable, Dict

import mmcv
import mmengine
import torch

import mmdet3d

from mmdet3d_pointdistiller.utils import cpu_model_name

from . import kd_loss
from .cases import KD_CASES, QUICK, kd_case_settings, sweep_settings
from .kd_loss import bench_kd_case, bench_sweep
from .memory import Runner
from .targets import evaluate_targets
from .train_step import train_step_worker

__all__ = ['machine_info', 'run_benchmark']


def machine_info(threads: int, device: str) -> Dict[str, Any]:
    """CPU, core count, load average, library versions (and the GPU on CUDA)."""
    info = dict(cpu=cpu_model_name(), cpu_cores=os.cpu_count(), torch_threads=threads,
                load_avg_at_start=list(os.getloadavg()) if hasattr(os, 'getloadavg') else None,
                python=platform.python_version(), platform=platform.platform(),
                torch=torch.__version__, mmcv=mmcv.__version__, mmengine=mmengine.__version__,
                mmdet3d=mmdet3d.__version__, device=device)
    if device.startswith('cuda'):
        info['gpu'] = torch.cuda.get_device_name(torch.device(device))
        info['cuda'] = torch.version.cuda
    return info


def run_benchmark(args: argparse.Namespace, command: str,
                  log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Every measurement of the benchmark; returns the result dict (the JSON record).

    Args:
        args: the parsed command line (see :func:`.cli.parse_args`).
        command: the command line recorded in the result.
        log: progress lines go here.
    """
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise RuntimeError(f'--device {args.device}: CUDA is not available on this machine')
    result: Dict[str, Any] = dict(
        command=command, machine=machine_info(args.threads, args.device),
        settings=dict(threads=args.threads, repeats=args.repeats, device=args.device,
                      quick=args.quick, pp_pillars=args.pp_pillars, warmup=1,
                      train_batch=args.train_batch))
    started = time.perf_counter()
    with Runner(isolate=not args.no_isolate, preload=[kd_loss.__name__]) as runner:
        cases = kd_case_settings(args.quick, args.pp_pillars)
        for name in KD_CASES:
            if args.cases and name not in args.cases:
                continue
            log(f'[kd-loss {time.perf_counter() - started:.0f}s] {name}: {cases[name]["note"]}')
            res = bench_kd_case(runner, cases[name]['taps'], args.repeats, args.threads,
                                args.device, profile=args.profile and name.startswith('pointp'))
            res['setting'] = dict(config=cases[name]['config'], note=cases[name]['note'],
                                  taps=cases[name]['taps'])
            result[name] = res
            log(f'           dense {res["dense"]["time_s"]:.3f} s {res["dense"]["peak_mb"]:.0f} MB'
                f' | ours {res["ours"]["time_s"]:.3f} s {res["ours"]["peak_mb"]:.0f} MB | '
                f'{res["speedup"]:.2f}x faster, {res["memory_ratio"]:.1f}x less memory')
        if not args.skip_sweep:
            log(f'[sweep {time.perf_counter() - started:.0f}s] M and N')
            result['sweep'] = bench_sweep(runner, sweep_settings(args.quick), args.repeats,
                                          args.threads, args.device)
    if not args.skip_train_step:
        # timing only: runs in this process (the KD-loss workers ran in their own processes)
        log(f'[train-step {time.perf_counter() - started:.0f}s] PointPillars 4x, real KITTI '
            'frame')
        result['train_step'] = train_step_worker(dict(
            batch=args.train_batch, warmup=1 if args.quick else 2,
            repeats=QUICK['train_repeats'] if args.quick else max(args.repeats, 5),
            threads=args.threads, seed=0, device=args.device,
            crop=QUICK['train_crop'] if args.quick else None,
            kitti_dir=getattr(args, 'kitti_dir', None)))
    result['elapsed_s'] = time.perf_counter() - started
    if hasattr(os, 'getloadavg'):
        result['machine']['load_avg_at_end'] = list(os.getloadavg())
    result['targets'] = evaluate_targets(result)
    return result
