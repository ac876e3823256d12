"""KD loss forward + backward, dense vs ours: the worker that measures one case in a fresh
process, the two-implementation comparison of a case, and the M / N scaling sweeps.

``ours`` is :class:`PointDistillerLoss` (chunked kNN, projection before gather, fused
edge -> BN -> ReLU -> MSE operator); ``dense`` is ``dense_reference_from_module`` with the very
same module (parameters) and inputs, so both give the same loss value.

Timing: wall clock (``time.perf_counter``; on CUDA after ``torch.cuda.synchronize`` and, in
addition, CUDA-event GPU time). A case: a fresh process runs one warm-up of each
implementation, then ``repeats`` rounds alternating dense and ours (on a shared machine
alternation exposes both to the same load); the median is reported. Sweep points: the run
after the warm-up in the memory process.
"""
import copy
import statistics
import time
from typing import Any, Callable, Dict, List, Sequence

import torch
from torch.profiler import ProfilerActivity, profile

from mmdet3d.registry import MODELS

from mmdet3d_pointdistiller.testing.dense_reference import dense_reference_from_module

from .cases import IMPLS, make_tap_inputs
from .memory import PeakMemory, Runner

__all__ = ['bench_kd_case', 'bench_sweep', 'fit_line', 'kd_worker']


def kd_worker(payload: Dict) -> Dict[str, Dict]:
    """KD-loss forward + backward of one case, in a fresh process (see the module docstring).

    Args:
        payload: ``taps`` (list of dict(loss, inputs)), ``impls`` (subset of :data:`IMPLS`),
            ``memory`` (bool), ``repeats``, ``threads``, ``device``, ``seed``, ``profile``
            (bool, optional).

    With ``memory=True`` (exactly one implementation): one warm-up and ``repeats`` runs with
    the peak-memory counter armed. With ``memory=False``: one warm-up per implementation,
    then ``repeats`` rounds that alternate the implementations (dense, ours, dense, ...), so
    a varying machine load hits both alike.

    Returns:
        dict: per implementation ``loss``, ``time_s`` / ``forward_s`` / ``backward_s``
        (medians; ``gpu_time_s`` / ``gpu_forward_s`` on CUDA), ``times_s``, and with
        ``memory=True`` ``peak_mb`` and ``memory_method``.
    """
    torch.set_num_threads(payload['threads'])
    device, impls = payload['device'], list(payload['impls'])
    unknown = [i for i in impls if i not in IMPLS]
    if unknown or not impls:
        raise ValueError(f'impls must be a non-empty subset of {IMPLS}, got {impls!r}')
    if payload['memory'] and len(impls) != 1:
        raise ValueError(f'a memory measurement takes exactly one implementation, got {impls}')
    cuda = device.startswith('cuda')
    torch.manual_seed(payload['seed'])
    modules, tap_inputs = [], []
    for i, tap in enumerate(payload['taps']):
        module = MODELS.build(copy.deepcopy(tap['loss'])).to(device).train()
        modules.append(module)
        tap_inputs.append(make_tap_inputs(tap['inputs'], tap['loss'], payload['seed'] + i,
                                          device))
    params = [p for m in modules for p in m.parameters()]

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def run_once(impl: str) -> Dict[str, float]:
        for p in params:
            p.grad = None
        for x in tap_inputs:
            x['student_feat'].grad = None
        sync()
        t0 = time.perf_counter()
        if cuda:
            ev = [torch.cuda.Event(enable_timing=True) for _ in range(3)]
            ev[0].record()
        total = 0
        for module, x in zip(modules, tap_inputs):
            args = (x['teacher_feat'], x['student_feat'], x.get('batch_idx'),
                    x.get('num_points'))
            if impl == 'ours':
                total = total + module(*args)
            else:
                total = total + dense_reference_from_module(module, *args)[0].loss
        if cuda:
            ev[1].record()
        sync()
        t1 = time.perf_counter()
        total.backward()
        if cuda:
            ev[2].record()
        sync()
        t2 = time.perf_counter()
        out = dict(loss=float(total.detach()), forward_s=t1 - t0, backward_s=t2 - t1,
                   time_s=t2 - t0)
        if cuda:
            out.update(gpu_forward_s=ev[0].elapsed_time(ev[1]) / 1e3,
                       gpu_time_s=ev[0].elapsed_time(ev[2]) / 1e3)
        return out

    runs: Dict[str, List[Dict]] = {impl: [] for impl in impls}
    results: Dict[str, Dict] = {}
    if payload['memory']:
        (impl, ) = impls
        _prime(impl, payload)
        mem = PeakMemory(device)
        mem.start()
        run_once(impl)  # warm-up (its peak counts: it is a real forward + backward)
        runs[impl] = [run_once(impl) for _ in range(payload['repeats'])]
        results[impl] = dict(peak_mb=mem.stop(), memory_method=mem.method)
    else:
        for impl in impls:
            run_once(impl)  # warm-up
        for _ in range(payload['repeats']):
            for impl in impls:
                runs[impl].append(run_once(impl))
    for impl in impls:
        res = results.setdefault(impl, {})
        res.update(impl=impl, loss=runs[impl][-1]['loss'],
                   times_s=[r['time_s'] for r in runs[impl]],
                   threads=torch.get_num_threads(), device=device)
        for key in ('time_s', 'forward_s', 'backward_s', 'gpu_time_s', 'gpu_forward_s'):
            if key in runs[impl][0]:
                res[key] = statistics.median(r[key] for r in runs[impl])
        if payload.get('profile'):
            res['profile'] = _profile(lambda: run_once(impl), cuda)
    return results


def _prime(impl: str, payload: Dict) -> None:
    """Pay the process's one-time costs (autograd engine thread, first use of each kernel,
    allocator arenas: about 8-15 MB of RSS) before the memory counter is armed, by running
    the same implementation on tiny inputs of the same layouts, so that the measured peak
    holds the memory of the loss itself."""
    tiny = []
    for tap in payload['taps']:
        inputs = dict(tap['inputs'])
        if 'spatial' in inputs:
            inputs['spatial'] = [4, 8]
        else:
            inputs['elements'] = 32
        tiny.append(dict(tap, inputs=inputs))
    kd_worker(dict(payload, taps=tiny, impls=[impl], memory=False, repeats=1, profile=False))


def _profile(run_once: Callable[[], Dict], cuda: bool, top: int = 12) -> List[Dict]:
    """Top operators (self time) of one forward + backward under ``torch.profiler``."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities, record_shapes=True) as prof:
        run_once()
    key = 'self_device_time_total' if cuda else 'self_cpu_time_total'
    events = sorted(prof.key_averages(group_by_input_shape=True),
                    key=lambda e: getattr(e, key, 0), reverse=True)
    total = sum(getattr(e, key, 0) for e in events) or 1.0
    return [dict(op=e.key, shapes=str(e.input_shapes)[:120], calls=e.count,
                 self_s=getattr(e, key, 0) / 1e6, share=getattr(e, key, 0) / total)
            for e in events[:top]]


def bench_kd_case(runner: Runner, taps: List[Dict], repeats: int, threads: int, device: str,
                  seed: int = 0, profile: bool = False, interleaved_timing: bool = True
                  ) -> Dict[str, Any]:
    """Dense and ours on the same inputs.

    Peak memory: one fresh process per implementation (warm-up + 1 run). Time: with
    ``interleaved_timing`` one more fresh process that alternates the implementations
    (warm-up + ``repeats`` rounds); otherwise the memory processes' run.

    Returns:
        dict: ``dense`` / ``ours`` results (see :func:`kd_worker`; ``isolated_time_s`` is the
        time of the memory process's run), ``speedup``, ``memory_ratio``, ``loss_rel_diff``
        (and ``gpu_speedup`` on CUDA).
    """
    common = dict(taps=taps, threads=threads, device=device, seed=seed)
    out: Dict[str, Any] = {}
    for impl in IMPLS:
        res = runner(kd_worker, dict(common, impls=[impl], memory=True, repeats=1))[impl]
        res['isolated_time_s'] = res['time_s']
        res['isolated_loss'] = res['loss']
        out[impl] = res
    if interleaved_timing:
        timing = runner(kd_worker, dict(common, impls=list(IMPLS), memory=False,
                                        repeats=repeats, profile=profile))
        for impl in IMPLS:
            out[impl].update(timing[impl])
    d, o = out['dense'], out['ours']
    out['speedup'] = d['time_s'] / o['time_s']
    out['memory_ratio'] = d['peak_mb'] / max(o['peak_mb'], 1e-9)
    out['loss_rel_diff'] = abs(d['loss'] - o['loss']) / max(abs(d['loss']), 1e-30)
    if 'gpu_time_s' in d:
        out['gpu_speedup'] = d['gpu_time_s'] / o['gpu_time_s']
    return out


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> Dict[str, float]:
    """Least-squares line ``y = slope * x + intercept`` and its coefficient of determination.

    Returns:
        dict: ``slope``, ``intercept``, ``r2`` (1.0 when every y is equal).
    """
    n = len(xs)
    if n < 2:
        raise ValueError(f'a line fit needs at least 2 points, got {n}')
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx)**2 for x in xs)
    if sxx == 0:
        raise ValueError('a line fit needs at least two distinct x values')
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    intercept = my - slope * mx
    ss_res = sum((y - (slope * x + intercept))**2 for x, y in zip(xs, ys))
    ss_tot = sum((y - my)**2 for y in ys)
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return dict(slope=slope, intercept=intercept, r2=r2)


def bench_sweep(runner: Runner, settings: Dict, repeats: int, threads: int,
                device: str) -> Dict[str, Any]:
    """Peak memory / time of dense and ours over M (fixed N) and over N (fixed M).

    Args:
        settings: see :func:`~.cases.sweep_settings`.

    Returns:
        dict: ``loss``, and per axis ``m`` / ``n`` the ``points`` (M, N, and per
        implementation time_s, peak_mb, loss) and ``fit_dense`` / ``fit_ours`` (a line of peak
        memory over the axis: slope_mb_per_1k, intercept_mb, r2).
    """
    loss = settings['loss']
    result = dict(loss=dict(loss), m=dict(fixed_n=settings['fixed_n'], points=[]),
                  n=dict(fixed_m=settings['fixed_m'], points=[]))
    for axis, values in (('m', settings['m']), ('n', settings['n'])):
        for v in values:
            m = v if axis == 'm' else settings['fixed_m']
            n = settings['fixed_n'] if axis == 'm' else v
            taps = [dict(loss=dict(loss, num_queries=n),
                         inputs=dict(layout='voxel', batch=1, elements=m))]
            res = bench_kd_case(runner, taps, repeats, threads, device,
                                interleaved_timing=False)
            result[axis]['points'].append(dict(
                M=m, N=n, **{impl: dict(time_s=res[impl]['time_s'], peak_mb=res[impl]['peak_mb'],
                                        loss=res[impl]['loss']) for impl in IMPLS}))
        for impl in IMPLS:
            xs = [p['M' if axis == 'm' else 'N'] for p in result[axis]['points']]
            ys = [p[impl]['peak_mb'] for p in result[axis]['points']]
            fit = fit_line(xs, ys)
            result[axis][f'fit_{impl}'] = dict(
                slope_mb_per_1k=fit['slope'] * 1000, intercept_mb=fit['intercept'],
                r2=fit['r2'])
    return result
