#!/usr/bin/env python
"""KD-overhead benchmark: the memory-bounded PointDistiller loss against the dense original.

Measured (every KD-loss measurement in fresh worker processes, see "Peak memory" below):

1. **KD loss, dense vs ours**, forward + backward, at the three paper settings, read from the
   shipped distillation configs (``configs/pointdistiller/``): KD hyper-parameters of every tap
   (N, K, C_T, C_S, C', layout, chunk size, ...) and the per-GPU batch size of the config's
   ``train_dataloader``:

   * ``pointpillars_4x``: PillarFeatureNet features, ``--pp-pillars`` (12000) pillars per
     sample, N = 1000 per sample x batch 6 = 6000 queries per batch, K = 128;
   * ``pointpillars_4x_single_graph``: the issue's yardstick, one graph with M = 12000 pillars
     and N = 6000 queries (the released code pools the top 6000 pillars of a batch);
   * ``second_4x``: both SECOND BEV stages (200 x 176 and 100 x 88 cells per sample, from the
     config's ``sparse_shape`` / 8 and ``layer_strides``), the two tap losses summed;
   * ``pointrcnn_8x``: 16384 FP point features per sample (the config's ``PointSample``).

   ``ours`` is :class:`PointDistillerLoss` (chunked kNN, projection before gather, fused
   edge -> BN -> ReLU -> MSE operator); ``dense`` is
   :func:`~mmdet3d_pointdistiller.models.losses.dense_reference.dense_reference_from_module`
   with the very same module (parameters) and inputs, so both give the same loss value.
   Features are synthetic (teacher: ReLU of a standard normal, student: standard normal,
   points per pillar uniform in 1..32): the cost depends on the sizes, not on the values.
2. **Scaling sweeps**: peak memory and time over M at fixed N, K, chunk, and over N at fixed
   M; a least-squares line (slope, intercept, R^2) of peak memory over M.
3. **One training step** (``train_step``: data preprocessor, loss, backward, optimizer step
   with the config's AdamW + gradient clipping) of ``PointDistillerDetector`` with
   ``distill=True`` (teacher forward included) vs ``distill=False``, the same student
   initialisation, on the real KITTI frame ``../shared/data/kitti_real/000008`` with the
   PointPillars-4x configs; the batch holds ``--train-batch`` copies of the one frame. The
   teacher is randomly initialised (teacher weights cannot be downloaded here; its cost does
   not depend on its values). Steps alternate student / distill so machine load hits both.
   Runs in the main process (time only) after the KD-loss workers.

Timing: wall clock (``time.perf_counter``; on CUDA after ``torch.cuda.synchronize`` and, in
addition, CUDA-event GPU time). KD-loss cases: a fresh process runs one warm-up of each
implementation, then ``--repeats`` rounds alternating dense and ours (the machine is shared:
alternation exposes both to the same load); the median is reported. Sweep points: the run
after the warm-up in the memory process. Train steps: warm-up, then alternating steps.

Peak memory (CPU): every case runs in a fresh process forked from a ``forkserver`` that has
only imported the libraries. After the inputs and modules are built, the process resets its
kernel peak-RSS counter (``echo 5 > /proc/self/clear_refs``) and records ``VmRSS``; after the
warm-up and timed runs, ``VmHWM - baseline`` is the peak *extra* resident memory of the loss
(forward, backward and the gradients it produces). Where ``clear_refs`` is not writable the
fallback is ``ru_maxrss`` minus the baseline RSS (reported as ``memory_method``). On CUDA:
``torch.cuda.max_memory_allocated`` minus the memory allocated before the first run.

    python tools/benchmark_kd_overhead.py [--threads 1] [--repeats 3] [--device cpu]
        [--out-dir benchmarks] [--quick] [--profile]
"""
import argparse
import copy
import json
import math
import multiprocessing
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / 'shared'
KITTI_REAL = SHARED / 'data' / 'kitti_real'
KD_CONFIGS = {
    'pointpillars_4x': 'configs/pointdistiller/'
                       'pointdistiller_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py',
    'second_4x': 'configs/pointdistiller/'
                 'pointdistiller_second-4x_hv_secfpn_8xb6-80e_kitti-3d-3class.py',
    'pointrcnn_8x': 'configs/pointdistiller/pointdistiller_point-rcnn-8x_8xb2_kitti-3d-3class.py',
}
KD_CASES = ('pointpillars_4x', 'pointpillars_4x_single_graph', 'second_4x', 'pointrcnn_8x')
IMPLS = ('dense', 'ours')
# Targets of issue #5 (ratios within one run).
TARGET_SPEEDUP = 4.0
TARGET_MEMORY_RATIO = 4.0
TARGET_TRAIN_RATIO = 1.6
# Stock SparseEncoder: three stride-2 stages, BEV = sparse_shape[1:] / 8.
SPARSE_ENCODER_STRIDE = 8
# Tiny sizes of --quick (smoke test); the same code paths as the full run.
QUICK = dict(pp_pillars=300, pp_queries=60, pp_k=8, second_hw=(12, 10), second_queries=24,
             second_k=8, rcnn_points=256, rcnn_queries=40, rcnn_k=8, sweep_m=(200, 400, 800),
             sweep_n=(20, 40), sweep_fixed_n=50, sweep_fixed_m=400, sweep_k=8, chunk=16,
             train_repeats=1, train_crop=[0, -10.24, -3, 20.48, 10.24, 1])
FULL = dict(sweep_m=(3000, 6000, 12000, 24000, 48000), sweep_n=(1000, 2000, 4000, 8000),
            sweep_fixed_n=2000, sweep_fixed_m=12000, sweep_k=128, sweep_chunk=1024)
# imported once by the forkserver (every KD-loss worker is forked from it); MODELS.build
# imports mmdet3d.models (the registry's location) on first use.
PRELOAD = ['torch', 'numpy', 'mmengine', 'mmdet3d.registry', 'mmdet3d_pointdistiller',
           'mmdet3d.models']


# ============================================================================ case settings
def _load_config(name: str):
    """The shipped distillation config of ``name`` (a key of :data:`KD_CONFIGS`)."""
    from mmengine.config import Config
    path = REPO / KD_CONFIGS[name]
    if not path.is_file():
        raise FileNotFoundError(f'distillation config of {name!r} not found: {path}')
    return Config.fromfile(str(path))


def _plain(cfg: Any) -> Any:
    """ConfigDict / tuple tree -> JSON-friendly plain dicts and lists."""
    if isinstance(cfg, dict):
        return {k: _plain(v) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return [_plain(v) for v in cfg]
    return cfg


def _tap_losses(cfg) -> List[Dict]:
    losses = [_plain(tap['loss']) for tap in cfg.model.distill_cfg]
    if not losses:
        raise ValueError('model.distill_cfg of the distillation config has no taps')
    return losses


def kd_case_settings(quick: bool = False, pp_pillars: int = 12000) -> Dict[str, Dict]:
    """Loss configs and input sizes of every KD-loss case, read from the shipped configs.

    Returns:
        dict: ``{case: dict(config, batch, taps=[dict(loss=<PointDistillerLoss cfg>,
        inputs=dict(layout, batch, elements | spatial))], note)}``. ``elements`` is the number
        of voxels per sample (voxel layout) or points per sample (point layout); ``spatial``
        is (H, W) for the BEV layout.
    """
    cases = {}
    # ---- PointPillars 4x: PillarFeatureNet rows, N per sample x the per-GPU batch
    cfg = _load_config('pointpillars_4x')
    (pp_loss, ) = _tap_losses(cfg)
    batch = int(cfg.train_dataloader.batch_size)
    m_pp = pp_pillars
    if quick:
        pp_loss.update(num_queries=QUICK['pp_queries'], num_neighbors=QUICK['pp_k'],
                       knn_chunk_size=QUICK['chunk'])
        m_pp, batch = QUICK['pp_pillars'], 2
    cases['pointpillars_4x'] = dict(
        config=KD_CONFIGS['pointpillars_4x'], batch=batch,
        taps=[dict(loss=pp_loss, inputs=dict(layout='voxel', batch=batch, elements=m_pp))],
        note=f'{batch} samples x {m_pp} pillars, N={pp_loss["num_queries"]} per sample '
             f'({batch * pp_loss["num_queries"]} per batch), K={pp_loss["num_neighbors"]}')
    single = copy.deepcopy(pp_loss)
    single['num_queries'] = batch * pp_loss['num_queries']
    cases['pointpillars_4x_single_graph'] = dict(
        config=KD_CONFIGS['pointpillars_4x'], batch=1,
        taps=[dict(loss=single, inputs=dict(layout='voxel', batch=1, elements=m_pp))],
        note=f'one graph: {m_pp} pillars, N={single["num_queries"]}, '
             f'K={single["num_neighbors"]} (the issue\'s dense measurement)')

    # ---- SECOND 4x: both backbone stages (BEV maps), losses summed
    cfg = _load_config('second_4x')
    batch = int(cfg.train_dataloader.batch_size)
    sparse_shape = cfg.model.student.middle_encoder.sparse_shape
    h0 = sparse_shape[1] // SPARSE_ENCODER_STRIDE
    w0 = sparse_shape[2] // SPARSE_ENCODER_STRIDE
    taps, stride = [], 1
    for loss, layer_stride in zip(_tap_losses(cfg), cfg.model.student.backbone.layer_strides):
        stride *= layer_stride
        hw = (h0 // stride, w0 // stride)
        if quick:
            loss.update(num_queries=QUICK['second_queries'], num_neighbors=QUICK['second_k'],
                        knn_chunk_size=QUICK['chunk'])
            hw = (QUICK['second_hw'][0] // stride, QUICK['second_hw'][1] // stride)
        taps.append(dict(loss=loss, inputs=dict(layout='bev', batch=2 if quick else batch,
                                                spatial=list(hw))))
    cases['second_4x'] = dict(
        config=KD_CONFIGS['second_4x'], batch=taps[0]['inputs']['batch'], taps=taps,
        note=' + '.join(f'{t["inputs"]["spatial"][0]}x{t["inputs"]["spatial"][1]} BEV '
                        f'(C_T={t["loss"]["teacher_channels"]})' for t in taps)
        + f', {taps[0]["inputs"]["batch"]} samples, N={taps[0]["loss"]["num_queries"]}, '
          f'K={taps[0]["loss"]["num_neighbors"]} per sample and stage')

    # ---- PointRCNN 8x: FP point features of the sampled points
    cfg = _load_config('pointrcnn_8x')
    (rcnn_loss, ) = _tap_losses(cfg)
    batch = int(cfg.train_dataloader.batch_size)
    samplers = [t for t in cfg.train_pipeline if t['type'] == 'PointSample']
    if len(samplers) != 1:
        raise ValueError(f'{KD_CONFIGS["pointrcnn_8x"]}: expected one PointSample transform in '
                         f'train_pipeline, found {len(samplers)}')
    points = int(samplers[0]['num_points'])
    if quick:
        rcnn_loss.update(num_queries=QUICK['rcnn_queries'], num_neighbors=QUICK['rcnn_k'],
                         knn_chunk_size=QUICK['chunk'])
        points, batch = QUICK['rcnn_points'], 2
    cases['pointrcnn_8x'] = dict(
        config=KD_CONFIGS['pointrcnn_8x'], batch=batch,
        taps=[dict(loss=rcnn_loss, inputs=dict(layout='point', batch=batch, elements=points))],
        note=f'{batch} samples x {points} points, N={rcnn_loss["num_queries"]}, '
             f'K={rcnn_loss["num_neighbors"]}, max-pool over K')
    return cases


def sweep_settings(quick: bool = False) -> Dict[str, Any]:
    """Loss config (PointPillars channels) and the M / N grids of the scaling sweeps."""
    (loss, ) = _tap_losses(_load_config('pointpillars_4x'))
    if quick:
        grid = dict(m=list(QUICK['sweep_m']), n=list(QUICK['sweep_n']),
                    fixed_n=QUICK['sweep_fixed_n'], fixed_m=QUICK['sweep_fixed_m'])
        loss.update(num_neighbors=QUICK['sweep_k'], knn_chunk_size=QUICK['chunk'])
    else:
        grid = dict(m=list(FULL['sweep_m']), n=list(FULL['sweep_n']),
                    fixed_n=FULL['sweep_fixed_n'], fixed_m=FULL['sweep_fixed_m'])
        loss.update(num_neighbors=FULL['sweep_k'], knn_chunk_size=FULL['sweep_chunk'])
    return dict(loss=loss, **grid)


# ============================================================================ worker side
def _rss_kb(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError(f'{field} not found in /proc/self/status')


class PeakMemory:
    """Peak extra memory of a code region (see the module docstring for the method).

    Usage: ``pm = PeakMemory(device); pm.start(); ...; peak_mb = pm.stop()``.
    """

    def __init__(self, device: str):
        self.device = device
        self.method = None
        self.base = 0

    def start(self) -> None:
        import torch
        if self.device.startswith('cuda'):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            self.method = 'cuda_max_memory_allocated'
            return
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')  # reset VmHWM to the current RSS
            self.base = _rss_kb('VmRSS') * 1024
            self.method = 'linux_vmhwm_reset'
        except OSError:
            import resource
            self.base = _rss_kb('VmRSS') * 1024
            self.method = 'ru_maxrss_minus_rss'
            self._maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def stop(self) -> float:
        """Peak extra memory in MiB since :meth:`start`."""
        import torch
        if self.method == 'cuda_max_memory_allocated':
            torch.cuda.synchronize()
            return (torch.cuda.max_memory_allocated() - self.base) / 2**20
        if self.method == 'linux_vmhwm_reset':
            return max(_rss_kb('VmHWM') * 1024 - self.base, 0) / 2**20
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return max(peak - self.base, 0) / 2**20


def make_tap_inputs(inputs: Dict, loss_cfg: Dict, seed: int, device: str) -> Dict[str, Any]:
    """Synthetic features of one tap.

    Returns:
        dict: ``teacher_feat`` voxel (M, C_T) / bev (B, C_T, H, W) / point (B, C_T, P),
        ``student_feat`` (same with C_S, ``requires_grad``), and for the voxel layout
        ``batch_idx`` (M,) sorted by sample and ``num_points`` (M,) in 1..32.
    """
    import torch
    gen = torch.Generator().manual_seed(seed)
    c_t, c_s = loss_cfg['teacher_channels'], loss_cfg['student_channels']
    batch, layout = inputs['batch'], inputs['layout']
    if layout == 'voxel':
        m = inputs['elements']
        t_shape, s_shape = (batch * m, c_t), (batch * m, c_s)
    elif layout == 'bev':
        t_shape = (batch, c_t, *inputs['spatial'])
        s_shape = (batch, c_s, *inputs['spatial'])
    elif layout == 'point':
        t_shape, s_shape = (batch, c_t, inputs['elements']), (batch, c_s, inputs['elements'])
    else:
        raise ValueError(f'unknown feature layout {layout!r}')
    out = dict(teacher_feat=torch.randn(t_shape, generator=gen).relu_().to(device),
               student_feat=torch.randn(s_shape, generator=gen).to(device).requires_grad_())
    if layout == 'voxel':
        m = inputs['elements']
        out['batch_idx'] = torch.arange(batch).repeat_interleave(m).to(device)
        out['num_points'] = torch.randint(1, 33, (batch * m, ), generator=gen).to(device)
    return out


def _kd_worker(payload: Dict) -> Dict[str, Dict]:
    """KD-loss forward + backward of one case, in a fresh process (see module docstring).

    ``payload``: ``taps`` (list of dict(loss, inputs)), ``impls`` (subset of :data:`IMPLS`),
    ``memory`` (bool), ``repeats``, ``threads``, ``device``, ``seed``, ``profile`` (bool).

    With ``memory=True`` (exactly one implementation): one warm-up and ``repeats`` runs with
    the peak-memory counter armed. With ``memory=False``: one warm-up per implementation,
    then ``repeats`` rounds that alternate the implementations (dense, ours, dense, ...), so
    a varying machine load hits both alike.

    Returns:
        dict: per implementation ``loss``, ``time_s`` / ``forward_s`` / ``backward_s``
        (medians; ``gpu_time_s`` / ``gpu_forward_s`` on CUDA), ``times_s``, and with
        ``memory=True`` ``peak_mb`` and ``memory_method``.
    """
    import torch
    from mmdet3d.registry import MODELS
    from mmdet3d_pointdistiller.testing.dense_reference import \
        dense_reference_from_module
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

    def sync():
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
        _prime(impl, payload, device)
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


def _prime(impl: str, payload: Dict, device: str) -> None:
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
    _kd_worker(dict(payload, taps=tiny, impls=[impl], memory=False, repeats=1,
                    profile=False))


def _profile(run_once: Callable[[], Dict], cuda: bool, top: int = 12) -> List[Dict]:
    """Top operators (self time) of one forward + backward under ``torch.profiler``."""
    from torch.profiler import ProfilerActivity, profile
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


def _need_kitti() -> Path:
    for suffix in ('.bin', '.pkl'):
        if not (KITTI_REAL / f'000008{suffix}').is_file():
            raise FileNotFoundError(f'real KITTI frame 000008{suffix} not found under '
                                    f'{KITTI_REAL} (needed for the train-step benchmark)')
    return KITTI_REAL


def _kitti_item(point_cloud_range: Sequence[float]) -> Dict:
    """The real frame 000008 through mmdet3d's KittiDataset (deterministic pipeline: no
    GT-sampling, which needs a dbinfos file, and no random augmentation)."""
    from mmdet3d_pointdistiller.utils import load_kitti_frame
    return load_kitti_frame(_need_kitti(), point_cloud_range, train=True)


def _crop_pointpillars(model_cfg, crop: Sequence[float]) -> None:
    """Restrict a KITTI PointPillars config to the point-cloud range ``crop`` (smaller BEV
    grid, same architecture; used by ``--quick`` only)."""
    model_cfg.data_preprocessor.voxel_layer.point_cloud_range = list(crop)
    vs = model_cfg.data_preprocessor.voxel_layer.voxel_size
    model_cfg.voxel_encoder.point_cloud_range = list(crop)
    model_cfg.middle_encoder.output_shape = [round((crop[4] - crop[1]) / vs[1]),
                                             round((crop[3] - crop[0]) / vs[0])]
    for r in model_cfg.bbox_head.anchor_generator.ranges:
        r[0], r[1], r[3], r[4] = crop[0], crop[1], crop[3], crop[4]


def _train_step_worker(payload: Dict) -> Dict:
    """Distill vs student-only ``train_step`` on the real frame (see module docstring).

    ``payload``: ``batch``, ``warmup``, ``repeats``, ``threads``, ``seed``, ``device``, ``crop``
    (None or a point-cloud range that replaces the config's, for ``--quick``).
    """
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(payload['threads'])
    try:
        return _train_step(payload)
    finally:
        torch.set_num_threads(threads)


def _train_step(payload: Dict) -> Dict:
    import torch
    from mmengine.dataset import pseudo_collate
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmdet3d.registry import MODELS
    from mmdet3d_pointdistiller.models.distillers import load_teacher_config
    from mmdet3d_pointdistiller.utils import save_random_teacher
    init_default_scope('mmdet3d')
    cfg = _load_config('pointpillars_4x')
    cfg.model.teacher = load_teacher_config(cfg.model.teacher)
    if payload.get('crop') is not None:
        for model_cfg in (cfg.model.student, cfg.model.teacher):
            _crop_pointpillars(model_cfg, payload['crop'])
    pc_range = cfg.model.student.data_preprocessor.voxel_layer.point_cloud_range
    item = _kitti_item(pc_range)
    data = pseudo_collate([copy.deepcopy(item) for _ in range(payload['batch'])])
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / 'teacher_random_init.pth'
        save_random_teacher(cfg.model.teacher, ckpt, seed=payload['seed'])
        cfg.model.teacher_ckpt = str(ckpt)
        torch.manual_seed(payload['seed'])
        distill = MODELS.build(copy.deepcopy(cfg.model))
        distill.init_weights()
    student_cfg = copy.deepcopy(cfg.model)
    student_cfg.update(distill=False, teacher_ckpt=None)
    student = MODELS.build(student_cfg)
    student.init_weights()
    student.student.load_state_dict(distill.student.state_dict(), strict=True)
    device = payload.get('device', 'cpu')
    models = dict(student=student.to(device), distill=distill.to(device))
    optims = {}

    def sync():
        if device.startswith('cuda'):
            torch.cuda.synchronize()

    for name, model in models.items():
        model.train()
        optims[name] = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))

    logs = {}

    def step(name: str) -> float:
        batch = copy.deepcopy(data)
        sync()
        t0 = time.perf_counter()
        log = models[name].train_step(batch, optims[name])
        sync()
        elapsed = time.perf_counter() - t0
        logs[name] = {k: float(v.detach() if torch.is_tensor(v) else v) for k, v in log.items()}
        for key, value in logs[name].items():
            if not math.isfinite(value):
                raise RuntimeError(f'{name} train_step gave a non-finite {key}: {value}')
        return elapsed

    times = dict(student=[], distill=[])
    for i in range(payload['warmup'] + payload['repeats']):
        for name in ('student', 'distill'):
            elapsed = step(name)
            if i >= payload['warmup']:
                times[name].append(elapsed)

    # ---- breakdown: teacher forward and the KD loss alone, on this step's real features
    inputs = distill.data_preprocessor(copy.deepcopy(data), True)
    batch_inputs, samples = inputs['inputs'], inputs['data_samples']
    captured = {}

    def capture(name):

        def hook(module, args, kwargs):
            captured[name] = ([a.detach().clone() if torch.is_tensor(a) else a for a in args],
                              {k: v.detach().clone() if torch.is_tensor(v) else v
                               for k, v in kwargs.items()})

        return hook

    handles = [m.register_forward_pre_hook(capture(n), with_kwargs=True)
               for n, m in distill.distill_losses.items()]
    distill.loss(batch_inputs, samples)
    for h in handles:
        h.remove()
    teacher_times, kd_times = [], []
    for i in range(payload['warmup'] + payload['repeats']):
        sync()
        t0 = time.perf_counter()
        distill._teacher_features(batch_inputs, samples)
        sync()
        t1 = time.perf_counter()
        total = 0
        for name, (args, kwargs) in captured.items():
            s_feat = args[1].clone().requires_grad_()
            total = total + distill.distill_losses[name](args[0], s_feat, *args[2:], **kwargs)
        total.backward()
        sync()
        t2 = time.perf_counter()
        if i >= payload['warmup']:
            teacher_times.append(t1 - t0)
            kd_times.append(t2 - t1)
    voxels = batch_inputs['voxels']
    student_s = statistics.median(times['student'])
    distill_s = statistics.median(times['distill'])
    return dict(
        student_s=student_s, distill_s=distill_s, ratio=distill_s / student_s,
        student_times_s=times['student'], distill_times_s=times['distill'],
        teacher_forward_s=statistics.median(teacher_times),
        kd_loss_fwd_bwd_s=statistics.median(kd_times),
        batch=payload['batch'], frame=str(KITTI_REAL / '000008.bin'), device=device,
        frame_note=f'the same real frame {payload["batch"]} times (deterministic pipeline, '
                   'no GT-sampling / augmentation)',
        pillars=int(voxels['coors'].shape[0]),
        point_cloud_range=list(pc_range),
        pillars_per_sample=[int((voxels['coors'][:, 0] == b).sum())
                            for b in range(payload['batch'])],
        kd_loss_keys=sorted(k for k in logs['distill'] if k.startswith('loss_pd')),
        last_logs=logs, warmup=payload['warmup'], repeats=payload['repeats'],
        optimizer=_plain(cfg.optim_wrapper), threads=torch.get_num_threads(),
        config=KD_CONFIGS['pointpillars_4x'], teacher='random init (same architecture as '
                                                      'the stock teacher config)')


# ============================================================================ driver side
class Runner:
    """Runs worker functions, each in a fresh process forked from a forkserver (or, with
    ``isolate=False``, in this process: no memory isolation, for debugging only)."""

    def __init__(self, isolate: bool = True):
        self.isolate = isolate
        self._pool = None
        if isolate:
            ctx = multiprocessing.get_context('forkserver')
            this = __name__ if __name__ != '__main__' else '__main__'
            ctx.set_forkserver_preload([this] + PRELOAD)
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=ctx,
                                             max_tasks_per_child=1)

    def __call__(self, fn: Callable[[Dict], Dict], payload: Dict) -> Dict:
        if not self.isolate:
            return fn(payload)
        return self._pool.submit(fn, payload).result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()

    def __enter__(self) -> 'Runner':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def bench_kd_case(runner: Runner, taps: List[Dict], repeats: int, threads: int, device: str,
                  seed: int = 0, profile: bool = False, interleaved_timing: bool = True
                  ) -> Dict[str, Any]:
    """Dense and ours on the same inputs.

    Peak memory: one fresh process per implementation (warm-up + 1 run). Time: with
    ``interleaved_timing`` one more fresh process that alternates the implementations
    (warm-up + ``repeats`` rounds); otherwise the memory processes' run.

    Returns:
        dict: ``dense`` / ``ours`` results (see :func:`_kd_worker`; ``isolated_time_s`` is the
        time of the memory process's run), ``speedup``, ``memory_ratio``, ``loss_rel_diff``
        (and ``gpu_speedup`` on CUDA).
    """
    common = dict(taps=taps, threads=threads, device=device, seed=seed)
    out: Dict[str, Any] = {}
    for impl in IMPLS:
        res = runner(_kd_worker, dict(common, impls=[impl], memory=True, repeats=1))[impl]
        res['isolated_time_s'] = res['time_s']
        res['isolated_loss'] = res['loss']
        out[impl] = res
    if interleaved_timing:
        timing = runner(_kd_worker, dict(common, impls=list(IMPLS), memory=False,
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
    """Least-squares line ``y = slope * x + intercept`` and its coefficient of determination."""
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
    """Peak memory / time of dense and ours over M (fixed N) and over N (fixed M)."""
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


def machine_info(threads: int, device: str) -> Dict[str, Any]:
    import mmcv
    import mmdet3d
    import mmengine
    import torch
    from mmdet3d_pointdistiller.utils import cpu_model_name
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
    """Every measurement of the benchmark (see module docstring); returns the result dict."""
    import torch
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise RuntimeError(f'--device {args.device}: CUDA is not available on this machine')
    result: Dict[str, Any] = dict(
        command=command, machine=machine_info(args.threads, args.device),
        settings=dict(threads=args.threads, repeats=args.repeats, device=args.device,
                      quick=args.quick, pp_pillars=args.pp_pillars, warmup=1,
                      train_batch=args.train_batch))
    started = time.perf_counter()
    with Runner(isolate=not args.no_isolate) as runner:
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
        result['train_step'] = _train_step_worker(dict(
            batch=args.train_batch, warmup=1 if args.quick else 2,
            repeats=QUICK['train_repeats'] if args.quick else max(args.repeats, 5),
            threads=args.threads, seed=0, device=args.device,
            crop=QUICK['train_crop'] if args.quick else None))
    result['elapsed_s'] = time.perf_counter() - started
    if hasattr(os, 'getloadavg'):
        result['machine']['load_avg_at_end'] = list(os.getloadavg())
    result['targets'] = evaluate_targets(result)
    return result


def evaluate_targets(result: Dict) -> Dict[str, Any]:
    """The issue's targets, evaluated on the measured ratios (absent measurements skipped)."""
    targets = {}
    for name in ('pointpillars_4x', 'pointpillars_4x_single_graph'):
        if name in result:
            targets[f'{name}_speedup_ge_{TARGET_SPEEDUP:g}'] = dict(
                value=result[name]['speedup'], met=result[name]['speedup'] >= TARGET_SPEEDUP)
            targets[f'{name}_memory_ratio_ge_{TARGET_MEMORY_RATIO:g}'] = dict(
                value=result[name]['memory_ratio'],
                met=result[name]['memory_ratio'] >= TARGET_MEMORY_RATIO)
    if 'train_step' in result:
        ratio = result['train_step']['ratio']
        targets[f'train_step_ratio_le_{TARGET_TRAIN_RATIO:g}'] = dict(
            value=ratio, met=ratio <= TARGET_TRAIN_RATIO)
    if 'sweep' in result:
        fit = result['sweep']['m']['fit_ours']
        targets['ours_peak_linear_in_m_r2_ge_0.95'] = dict(value=fit['r2'], met=fit['r2'] >= 0.95)
    return targets


# ============================================================================ reporting
def _row(cells: Sequence[Any]) -> str:
    return '| ' + ' | '.join(str(c) for c in cells) + ' |'


def format_tables(result: Dict) -> str:
    """Markdown tables of every measurement in ``result``."""
    lines = []
    gpu = any('gpu_time_s' in result[c]['ours'] for c in KD_CASES if c in result)
    head = ['case', 'setting', 'dense time (s)', 'ours time (s)', 'speed-up',
            'dense peak (MB)', 'ours peak (MB)', 'memory ratio', 'loss dense / ours']
    if gpu:
        head[4:4] = ['dense GPU (s)', 'ours GPU (s)']
    lines += ['### KD loss, forward + backward', '', _row(head), _row(['---'] * len(head))]
    for name in KD_CASES:
        if name not in result:
            continue
        r = result[name]
        cells = [name, r['setting']['note'], f'{r["dense"]["time_s"]:.3f}',
                 f'{r["ours"]["time_s"]:.3f}', f'{r["speedup"]:.2f}x',
                 f'{r["dense"]["peak_mb"]:.0f}', f'{r["ours"]["peak_mb"]:.0f}',
                 f'{r["memory_ratio"]:.1f}x',
                 f'{r["dense"]["loss"]:.6g} / {r["ours"]["loss"]:.6g}']
        if gpu:
            cells[4:4] = [f'{r["dense"].get("gpu_time_s", float("nan")):.4f}',
                          f'{r["ours"].get("gpu_time_s", float("nan")):.4f}']
        lines.append(_row(cells))
    lines.append('')
    split = [n for n in KD_CASES if n in result]
    if split:
        lines += ['Forward / backward split (s, median):', '',
                  _row(['case', 'dense fwd', 'dense bwd', 'ours fwd', 'ours bwd']),
                  _row(['---'] * 5)]
        for name in split:
            d, o = result[name]['dense'], result[name]['ours']
            lines.append(_row([name, f'{d["forward_s"]:.3f}', f'{d["backward_s"]:.3f}',
                               f'{o["forward_s"]:.3f}', f'{o["backward_s"]:.3f}']))
        lines.append('')
    if 'sweep' in result:
        sw = result['sweep']
        loss = sw['loss']
        lines += ['### Scaling sweep (one sample, PointPillars channels '
                  f'C_T={loss["teacher_channels"]}, C_S={loss["student_channels"]}, '
                  f'C\'={loss["adapter_channels"]}, K={loss["num_neighbors"]}, '
                  f'chunk={loss["knn_chunk_size"]})', '']
        for axis, label, fixed in (('m', 'M', f'N={sw["m"]["fixed_n"]}'),
                                   ('n', 'N', f'M={sw["n"]["fixed_m"]}')):
            lines += [f'Over {label} at {fixed}:', '',
                      _row([label, 'dense time (s)', 'ours time (s)', 'dense peak (MB)',
                            'ours peak (MB)', 'memory ratio']), _row(['---'] * 6)]
            for p in sw[axis]['points']:
                d, o = p['dense'], p['ours']
                lines.append(_row([p[label], f'{d["time_s"]:.3f}', f'{o["time_s"]:.3f}',
                                   f'{d["peak_mb"]:.1f}', f'{o["peak_mb"]:.1f}',
                                   f'{d["peak_mb"] / max(o["peak_mb"], 1e-9):.1f}x']))
            lines.append('')
            for impl in IMPLS:
                f = sw[axis][f'fit_{impl}']
                lines.append(f'- {impl}: peak = {f["slope_mb_per_1k"]:.2f} MB per 1000 {label} '
                             f'x {label} + {f["intercept_mb"]:.1f} MB, R^2 = {f["r2"]:.4f}')
            lines.append('')
    if 'train_step' in result:
        t = result['train_step']
        lines += ['### One training step, PointPillars 4x, real KITTI frame', '',
                  _row(['', 'median (s)', 'all timed steps (s)']), _row(['---'] * 3),
                  _row(['student only (distill=False)', f'{t["student_s"]:.3f}',
                        ', '.join(f'{x:.3f}' for x in t['student_times_s'])]),
                  _row(['distillation (distill=True)', f'{t["distill_s"]:.3f}',
                        ', '.join(f'{x:.3f}' for x in t['distill_times_s'])]),
                  '', f'- distill / student: **{t["ratio"]:.2f}x** '
                  f'(target <= {TARGET_TRAIN_RATIO:g}x)',
                  f'- batch {t["batch"]}: {t["frame_note"]}; {t["pillars"]} pillars '
                  f'({", ".join(map(str, t["pillars_per_sample"]))} per sample)',
                  f'- breakdown of the extra cost (measured separately, median): teacher forward '
                  f'{t["teacher_forward_s"]:.3f} s, KD loss forward + backward on this step\'s '
                  f'features {t["kd_loss_fwd_bwd_s"]:.3f} s', '']
    if result.get('targets'):
        lines += ['### Targets (issue #5)', '', _row(['target', 'measured', 'met']),
                  _row(['---'] * 3)]
        for key, val in result['targets'].items():
            lines.append(_row([key, f'{val["value"]:.4g}', 'yes' if val['met'] else '**no**']))
        lines.append('')
    profiles = [(n, i) for n in KD_CASES if n in result for i in IMPLS
                if 'profile' in result[n][i]]
    if profiles:
        lines += ['### Profile (torch.profiler, one forward + backward, top operators by self '
                  'time)', '']
        for name, impl in profiles:
            lines += [f'{name}, {impl}:', '',
                      _row(['op', 'input shapes', 'calls', 'self (s)', 'share']),
                      _row(['---'] * 5)]
            for row in result[name][impl]['profile']:
                lines.append(_row([f'`{row["op"]}`', f'`{row["shapes"]}`', row['calls'],
                                   f'{row["self_s"]:.3f}', f'{row["share"] * 100:.1f}%']))
            lines.append('')
    return '\n'.join(lines)


def _mb(nbytes: float) -> str:
    return f'{nbytes / 2**20:.1f} MB'


def format_analysis(result: Dict) -> str:
    """Where the time and memory go, from the measured profile and the loss configs."""
    lines = ['## Analysis', '']
    prof = result.get('pointpillars_4x', {}).get('ours', {}).get('profile')
    dense_prof = result.get('pointpillars_4x', {}).get('dense', {}).get('profile')
    if prof and dense_prof:
        topk = sum(r['self_s'] for r in prof if r['op'] == 'aten::topk')
        topk_share = sum(r['share'] for r in prof if r['op'] == 'aten::topk')
        dense_topk = sum(r['self_s'] for r in dense_prof if r['op'] == 'aten::topk')
        lines.append(
            f'- Time (profile of `pointpillars_4x` above): `aten::topk`, the K-nearest '
            f'selection over each query\'s M candidates, takes {topk:.2f} s '
            f'({topk_share * 100:.0f}% of ours) in ours and {dense_topk:.2f} s in dense: the '
            'same work in both, so it bounds the speed-up (dense minus ours is the edge '
            'tensors, `cat`/`copy_` of (N, K, 2C) and the conv/BN/ReLU on them). The rest of '
            'ours is the chunked gathers (`index_select`) and the backward scatters '
            '(`index_add_` = `scatter_add_`) of the fused edge operator, and the distance '
            'GEMM (`addmm`).')
    if 'sweep' in result:
        loss = result['sweep']['loss']
        chunk, k, cp = loss['knn_chunk_size'], loss['num_neighbors'], loss['adapter_channels']
        n = result['sweep']['m']['fixed_n']
        rows = min(chunk, n)
        fit = result['sweep']['m']['fit_ours']
        lines.append(
            f'- Memory of ours is linear in M at a fixed chunk size: its two large phases are '
            f'the kNN (one {rows} x M float32 distance block = {_mb(rows * 4 * 1000)} per '
            f'1000 M, plus O(M C) feature copies) and the fused operator\'s backward (four '
            f'chunk x K x C\' float32 workspaces = 4 x {chunk} x {k} x {cp} x 4 B = '
            f'{_mb(4 * chunk * k * cp * 4)}, independent of M, plus O(M C\') projections and '
            f'their gradients). The fitted line (slope {fit["slope_mb_per_1k"]:.2f} MB per '
            f'1000 M, intercept {fit["intercept_mb"]:.1f} MB, R^2 = {fit["r2"]:.4f}) spans both '
            'phases (compare the intercept with the backward workspaces; the slope lies below the '
            'distance block\'s as the kNN phase dominates only at large M). Dense grows '
            'with N x M (distance matrix) and N x K x 2C (edge tensors): see the N sweep.')
    if 'second_4x' in result:
        taps = result['second_4x']['setting']['taps']
        per_copy = sum(t['inputs']['batch'] * math.prod(t['inputs']['spatial'])
                       * (t['loss']['teacher_channels'] + t['loss']['student_channels']) * 4
                       for t in taps)
        cells = sum(t['inputs']['batch'] * math.prod(t['inputs']['spatial']) for t in taps)
        lines.append(
            f'- `second_4x`: every BEV cell is a kNN candidate ({cells} cells over both stages '
            f'and the batch), so ours is dominated by O(M C) tensors: one flattened copy of the '
            f'teacher and student maps of both stages is {_mb(per_copy)}, and the loss keeps '
            'such copies (the (M, C) row layout for the kNN and the projections, the teacher '
            'rows saved for the adapter weight gradient, the student gradient) besides the '
            'O(M C\') projections. The N x K edge part that dense materialises is small here '
            '(N = 256), hence the smaller memory ratio than for the voxel and point layouts.')
    if 'train_step' in result:
        t = result['train_step']
        lines.append(
            f'- Train step: the distillation step adds the teacher forward (only up to the '
            f'tapped PillarFeatureNet, {t["teacher_forward_s"]:.3f} s) and the KD loss on the '
            f'frame\'s {t["pillars"]} pillars ({t["kd_loss_fwd_bwd_s"]:.3f} s forward + '
            f'backward) to the student step ({t["student_s"]:.3f} s).')
    return '\n'.join(lines) + '\n'


def write_markdown(result: Dict, path: Path) -> None:
    m = result['machine']
    text = [
        '# KD-overhead benchmark: memory-bounded PointDistiller loss vs the dense original', '',
        f'Generated by `{result["command"]}` ({result["elapsed_s"]:.0f} s).', '',
        f'Machine: {m["cpu"]}, {m["cpu_cores"]} cores, {m["torch_threads"]} torch thread(s), '
        f'load average (1, 5, 15 min) at start '
        f'{", ".join(f"{x:.2f}" for x in m["load_avg_at_start"] or [])}, at end '
        f'{", ".join(f"{x:.2f}" for x in m.get("load_avg_at_end") or [])} '
        f'(shared machine: absolute times are inflated, compare ratios); '
        f'device `{m["device"]}`'
        + (f' ({m["gpu"]}, CUDA {m["cuda"]})' if 'gpu' in m else '') + '.  ',
        f'Versions: Python {m["python"]}, torch {m["torch"]}, mmcv {m["mmcv"]}, '
        f'mmengine {m["mmengine"]}, mmdet3d {m["mmdet3d"]}.', '',
        '## Method', '',
        '- **dense**: `dense_reference_from_module` (tests-only yardstick in the style of the '
        'released code: full (N, M) distance matrix per sample, repeated (N, K, 2C) edge '
        'tensors, `conv2d` + `batch_norm` + ReLU). **ours**: `PointDistillerLoss` (kNN over '
        'query chunks, 1x1 conv as projection before the gather, fused edge -> BN -> ReLU -> MSE '
        'operator). Same module parameters and inputs, so the loss values agree (last column).',
        '- KD hyper-parameters and batch sizes come from the shipped configs in '
        '`configs/pointdistiller/`; features are synthetic (teacher ReLU(N(0,1)), student '
        'N(0,1), 1..32 points per pillar): the cost depends on sizes only.',
        f'- Time: wall clock of forward + backward. KD-loss cases: one process runs a '
        f'warm-up of each implementation, then {result["settings"]["repeats"]} rounds that '
        'alternate dense and ours (the machine is shared; alternation exposes both to the '
        'same load); medians. Sweep: the run after the warm-up in the memory process.',
        '- Peak memory: each case runs in a fresh process (forked from a forkserver that only '
        'imported the libraries). After building inputs and modules the worker resets the '
        "kernel's peak-RSS counter (`echo 5 > /proc/self/clear_refs`) and reads `VmRSS`; "
        'after the warm-up and timed runs `VmHWM - VmRSS(start)` is the peak extra resident '
        'memory of forward, backward and the produced gradients (MB = 2^20 bytes) '
        f'(method: `{_memory_method(result)}`). On CUDA the tool reports '
        '`torch.cuda.max_memory_allocated` above the allocation before the first run.',
        '- Train step: `PointDistillerDetector.train_step` (data preprocessor with mmcv '
        'voxelization, student loss, teacher forward under `no_grad` up to the tapped '
        'PillarFeatureNet, KD loss, backward, AdamW step with gradient clipping, as in the '
        'config) with `distill=True` vs `distill=False`, the same student initial weights; '
        'the teacher is randomly initialised (its cost does not depend on its weights). '
        'Student and distill steps alternate, so machine load affects both.', '',
        '## Results', '', format_tables(result), '', format_analysis(result),
    ]
    if result['settings']['quick']:
        text[2:2] = ['**`--quick` run: tiny sizes for the smoke test; the numbers say nothing '
                     'about the method.**', '']
    path.write_text('\n'.join(text))


def _memory_method(result: Dict) -> str:
    methods = {result[c][i]['memory_method'] for c in KD_CASES if c in result for i in IMPLS}
    return ', '.join(sorted(methods)) or 'n/a'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out-dir', default=str(REPO / 'benchmarks'),
                        help='where kd_overhead.md / kd_overhead.json are written')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda[:i]'")
    parser.add_argument('--repeats', type=int, default=3, help='timed runs after one warm-up')
    parser.add_argument('--threads', type=int, default=1, help='torch intra-op threads')
    parser.add_argument('--quick', action='store_true', help='tiny sizes (smoke test)')
    parser.add_argument('--pp-pillars', type=int, default=12000,
                        help='pillars per sample of the PointPillars cases')
    parser.add_argument('--train-batch', type=int, default=2,
                        help='copies of the real frame in the train-step batch')
    parser.add_argument('--cases', nargs='*', choices=KD_CASES, default=None,
                        help='KD-loss cases to run (default: all)')
    parser.add_argument('--skip-sweep', action='store_true')
    parser.add_argument('--skip-train-step', action='store_true')
    parser.add_argument('--profile', action='store_true',
                        help='torch.profiler top operators of the PointPillars cases')
    parser.add_argument('--no-isolate', action='store_true',
                        help='run every case in this process (no peak-memory isolation; '
                             'debugging only)')
    args = parser.parse_args(argv)
    for name in ('repeats', 'threads', 'pp_pillars', 'train_batch'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    command = ' '.join(['python', 'tools/benchmark_kd_overhead.py']
                       + [shlex.quote(a) for a in argv])
    result = run_benchmark(args, command)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / 'kd_overhead.json').write_text(json.dumps(result, indent=1) + '\n')
    write_markdown(result, out_dir / 'kd_overhead.md')
    print(format_tables(result))
    print(f'wrote {out_dir / "kd_overhead.md"} and {out_dir / "kd_overhead.json"}')
    return result


if __name__ == '__main__':
    main()
