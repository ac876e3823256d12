"""The KD-loss cases of the benchmark, read from the shipped distillation configs, and their
synthetic inputs.

The cases are the paper's three settings (``configs/pointdistiller/``): the KD
hyper-parameters of every tap (N, K, C_T, C_S, C', layout, chunk size, ...) and the per-GPU
batch size of the config's ``train_dataloader``:

* ``pointpillars_4x``: PillarFeatureNet features, ``pp_pillars`` (12000) pillars per sample,
  N = 1000 per sample x batch 6 = 6000 queries per batch, K = 128;
* ``pointpillars_4x_single_graph``: one graph with M = 12000 pillars and N = 6000 queries (the
  released code pools the top 6000 pillars of a batch into one graph);
* ``second_4x``: both SECOND BEV stages (200 x 176 and 100 x 88 cells per sample, from the
  config's ``sparse_shape`` / 8 and ``layer_strides``), the two tap losses summed;
* ``pointrcnn_8x``: 16384 FP point features per sample (the config's ``PointSample``).

Features are synthetic (teacher: ReLU of a standard normal, student: standard normal, points
per pillar uniform in 1..32): the cost depends on the sizes, not on the values.
"""
import copy
from typing import Any, Dict, List

import torch
from mmengine.config import Config

from mmdet3d_pointdistiller.utils.paths import repo_root

#: the paper's design of each family (the committed record measured these; the pillar and point
#: families' defaults now use design (c), whose cost the sim iteration profiles measure)
KD_CONFIGS = {
    'pointpillars_4x': 'configs/pointdistiller/pointdistiller-paper_pointpillars-4x_'
                       'hv_secfpn_8xb6-160e_kitti-3d-3class.py',
    'second_4x': 'configs/pointdistiller/'
                 'pointdistiller-paper_second-4x_hv_secfpn_8xb6-80e_kitti-3d-3class.py',
    'pointrcnn_8x': 'configs/pointdistiller/'
                    'pointdistiller-paper_point-rcnn-8x_8xb2_kitti-3d-3class.py',
}
KD_CASES = ('pointpillars_4x', 'pointpillars_4x_single_graph', 'second_4x', 'pointrcnn_8x')
IMPLS = ('dense', 'ours')
# Stock SparseEncoder: three stride-2 stages, BEV = sparse_shape[1:] / 8.
SPARSE_ENCODER_STRIDE = 8
# Tiny sizes of --quick (smoke test); the same code paths as the full run.
QUICK = dict(pp_pillars=300, pp_queries=60, pp_k=8, second_hw=(12, 10), second_queries=24,
             second_k=8, rcnn_points=256, rcnn_queries=40, rcnn_k=8, sweep_m=(200, 400, 800),
             sweep_n=(20, 40), sweep_fixed_n=50, sweep_fixed_m=400, sweep_k=8, chunk=16,
             train_repeats=1, train_crop=[0, -10.24, -3, 20.48, 10.24, 1])
FULL = dict(sweep_m=(3000, 6000, 12000, 24000, 48000), sweep_n=(1000, 2000, 4000, 8000),
            sweep_fixed_n=2000, sweep_fixed_m=12000, sweep_k=128, sweep_chunk=1024)

__all__ = ['FULL', 'IMPLS', 'KD_CASES', 'KD_CONFIGS', 'QUICK', 'SPARSE_ENCODER_STRIDE',
           'kd_case_settings', 'load_config', 'make_tap_inputs', 'plain', 'sweep_settings']


def load_config(name: str):
    """The shipped distillation config of ``name`` (a key of :data:`KD_CONFIGS`), read from
    :func:`~mmdet3d_pointdistiller.utils.paths.repo_root`."""
    path = repo_root() / KD_CONFIGS[name]
    if not path.is_file():
        raise FileNotFoundError(f'distillation config of {name!r} not found: {path}')
    return Config.fromfile(str(path))


def plain(cfg: Any) -> Any:
    """ConfigDict / tuple tree -> JSON-friendly plain dicts and lists."""
    if isinstance(cfg, dict):
        return {k: plain(v) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return [plain(v) for v in cfg]
    return cfg


def _tap_losses(cfg) -> List[Dict]:
    """The ``loss`` dict of every tap of ``cfg.model.distill_cfg``, as plain dicts."""
    losses = [plain(tap['loss']) for tap in cfg.model.distill_cfg]
    if not losses:
        raise ValueError('model.distill_cfg of the distillation config has no taps')
    return losses


def kd_case_settings(quick: bool = False, pp_pillars: int = 12000) -> Dict[str, Dict]:
    """Loss configs and input sizes of every KD-loss case, read from the shipped configs.

    Args:
        quick: the tiny sizes of :data:`QUICK` (smoke test).
        pp_pillars: pillars per sample of the PointPillars cases.

    Returns:
        dict: ``{case: dict(config, batch, taps=[dict(loss=<PointDistillerLoss cfg>,
        inputs=dict(layout, batch, elements | spatial))], note)}``. ``elements`` is the number
        of voxels per sample (voxel layout) or points per sample (point layout); ``spatial``
        is (H, W) for the BEV layout.
    """
    cases = {}
    # ---- PointPillars 4x: PillarFeatureNet rows, N per sample x the per-GPU batch
    cfg = load_config('pointpillars_4x')
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
             f'K={single["num_neighbors"]} (a batch pooled into one graph, as the released '
             'code does)')

    # ---- SECOND 4x: both backbone stages (BEV maps), losses summed
    cfg = load_config('second_4x')
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
    cfg = load_config('pointrcnn_8x')
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
    """Loss config (PointPillars channels) and the M / N grids of the scaling sweeps.

    Returns:
        dict: ``loss`` (a PointDistillerLoss config), ``m`` / ``n`` (the swept values),
        ``fixed_n`` (N of the M sweep), ``fixed_m`` (M of the N sweep).
    """
    (loss, ) = _tap_losses(load_config('pointpillars_4x'))
    if quick:
        grid = dict(m=list(QUICK['sweep_m']), n=list(QUICK['sweep_n']),
                    fixed_n=QUICK['sweep_fixed_n'], fixed_m=QUICK['sweep_fixed_m'])
        loss.update(num_neighbors=QUICK['sweep_k'], knn_chunk_size=QUICK['chunk'])
    else:
        grid = dict(m=list(FULL['sweep_m']), n=list(FULL['sweep_n']),
                    fixed_n=FULL['sweep_fixed_n'], fixed_m=FULL['sweep_fixed_m'])
        loss.update(num_neighbors=FULL['sweep_k'], knn_chunk_size=FULL['sweep_chunk'])
    return dict(loss=loss, **grid)


def make_tap_inputs(inputs: Dict, loss_cfg: Dict, seed: int, device: str) -> Dict[str, Any]:
    """Synthetic features of one tap.

    Args:
        inputs: ``layout`` ('voxel' / 'bev' / 'point'), ``batch``, and ``elements`` (voxel,
            point) or ``spatial`` (bev).
        loss_cfg: the tap's loss config (``teacher_channels``, ``student_channels``).
        seed: seed of the generator.
        device: where the tensors go.

    Returns:
        dict: ``teacher_feat`` voxel (M, C_T) / bev (B, C_T, H, W) / point (B, C_T, P),
        ``student_feat`` (same with C_S, ``requires_grad``), and for the voxel layout
        ``batch_idx`` (M,) sorted by sample and ``num_points`` (M,) in 1..32.
    """
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
