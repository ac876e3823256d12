"""The KD-vs-detection gradient probe (experiments/grad_alignment.py,
tools/probe_kd_gradients.py)."""
import copy
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from torch import nn

import mmdet3d_pointdistiller  # noqa: F401  registers modules
from mmdet3d_pointdistiller.testing import (build_model, frames, kitti_real_dir,
                                            small_distiller_cfg)
from mmdet3d_pointdistiller.experiments.grad_alignment import (gradient_alignment,
                                                               kd_and_detection_losses,
                                                               run_probe, summarise)

TOOL = Path(__file__).resolve().parents[1] / 'tools' / 'probe_kd_gradients.py'
init_default_scope('mmdet3d')


class _Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 1, bias=False)
        self.b = nn.Linear(2, 1, bias=False)


def test_opposite_gradients_give_cosine_minus_one_and_unreached_groups_are_left_out():
    torch.manual_seed(0)
    toy = _Toy()
    x, y = torch.randn(3), torch.randn(2)
    det = toy.a(x).sum() + toy.b(y).sum()
    kd = -0.5 * toy.a(x).sum()  # reaches only `a`, against the detection gradient
    out = gradient_alignment(det, kd, dict(toy.named_parameters()))
    assert set(out) == {'a'}  # one group: no 'all'
    assert out['a']['cos'] == pytest.approx(-1.0, abs=1e-6)
    assert out['a']['ratio'] == pytest.approx(0.5, rel=1e-6)
    assert out['a']['norm_det'] == pytest.approx(float(x.norm()), rel=1e-6)
    assert out['a']['numel'] == 3


def test_group_and_overall_values_match_a_hand_computation():
    torch.manual_seed(1)
    toy = _Toy()
    x, y, z = torch.randn(3), torch.randn(2), torch.randn(2)
    det = toy.a(x).sum() + toy.b(y).sum()
    kd = 2.0 * toy.a(x).sum() + toy.b(z).sum()
    out = gradient_alignment(det, kd, dict(toy.named_parameters()))
    assert out['a']['cos'] == pytest.approx(1.0, abs=1e-6)
    assert out['a']['ratio'] == pytest.approx(2.0, rel=1e-6)
    assert out['b']['cos'] == pytest.approx(float(y @ z / (y.norm() * z.norm())), rel=1e-5)
    g_det, g_kd = torch.cat([x, y]), torch.cat([2 * x, z])
    assert out['all']['cos'] == pytest.approx(
        float(g_det @ g_kd / (g_det.norm() * g_kd.norm())), rel=1e-5)
    assert out['all']['ratio'] == pytest.approx(float(g_kd.norm() / g_det.norm()), rel=1e-5)


def test_zero_detection_gradient_gives_nan_cosine_and_no_kd_gives_empty():
    toy = _Toy()
    x = torch.randn(3)
    out = gradient_alignment(toy.b(torch.ones(2)).sum(), toy.a(x).sum(),
                             dict(toy.named_parameters()))
    assert math.isnan(out['a']['cos']) and out['a']['ratio'] == math.inf
    assert gradient_alignment(toy.a(x).sum(), toy.b(torch.ones(2)).sum() * 0.0,
                              dict(toy.named_parameters())) == {}


def test_loss_split_sums_lists_and_names_missing_terms():
    one = torch.tensor(1.0)
    parts = kd_and_detection_losses(dict(loss_cls=[one, 2 * one], loss_bbox=3 * one,
                                         loss_pd_pfn=torch.tensor([0.5, 0.25]),
                                         kd_pfn_neff=100 * one))
    assert float(parts['det']) == 6.0 and float(parts['kd']) == 0.75
    with pytest.raises(ValueError, match='no loss_pd_\\* term .*PointDistillerDetector'):
        kd_and_detection_losses(dict(loss_cls=one))
    with pytest.raises(ValueError, match='no detection loss_\\* term'):
        kd_and_detection_losses(dict(loss_pd_pfn=one))


@pytest.mark.usefixtures('single_thread')
def test_distiller_on_a_real_frame_pfn_tap_reaches_only_the_voxel_encoder(tmp_path):
    if not (kitti_real_dir() / '000008.bin').is_file():
        pytest.fail(f'real KITTI frame not found under {kitti_real_dir()}')
    model = build_model(small_distiller_cfg(tmp_path).model)
    data = model.data_preprocessor(pseudo_collate([copy.deepcopy(frames()[0])]), True)
    parts = kd_and_detection_losses(model.loss(data['inputs'], data['data_samples']))
    params = {n: p for n, p in model.student.named_parameters() if p.requires_grad}
    # the expected values, by hand: both gradients over the pillar encoder's parameters
    enc = [p for n, p in params.items() if n.startswith('voxel_encoder.')]
    g_det = torch.cat([g.flatten()
                       for g in torch.autograd.grad(parts['det'], enc, retain_graph=True)])
    g_kd = torch.cat([g.flatten()
                      for g in torch.autograd.grad(parts['kd'], enc, retain_graph=True)])
    out = gradient_alignment(parts['det'], parts['kd'], params)
    assert set(out) == {'voxel_encoder'}  # the PFN tap: nothing after the scatter
    res = out['voxel_encoder']
    assert res['cos'] == pytest.approx(float(g_det @ g_kd / (g_det.norm() * g_kd.norm())),
                                       rel=1e-5, abs=1e-7)
    assert res['norm_det'] == pytest.approx(float(g_det.norm()), rel=1e-6)
    assert res['norm_kd'] == pytest.approx(float(g_kd.norm()), rel=1e-6) and res['norm_kd'] > 0
    assert res['ratio'] == pytest.approx(float(g_kd.norm() / g_det.norm()), rel=1e-6)
    assert res['numel'] == sum(p.numel() for n, p in params.items()
                               if n.startswith('voxel_encoder.'))


def _cli(*args):
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True,
                          timeout=300)


def test_cli_rejects_bad_pairs_before_building_anything(tmp_path):
    cfg = tmp_path / 'c.py'
    cfg.write_text('model = dict()\n')
    proc = _cli('--methods', 'nothing')
    assert proc.returncode != 0 and '--methods expects NAME=PATH' in proc.stderr
    proc = _cli('--methods', f'pd={cfg}', '--states', f'end={tmp_path / "missing.pth"}')
    assert proc.returncode != 0 and re.search('--states end: .*missing.pth does not exist',
                                              proc.stderr)
    with pytest.raises(ValueError, match=r"--states names methods \['other'\]"):
        run_probe({'pd': str(cfg)}, {'end@other': str(cfg)}, 1, 0, 1, 'cmd')
    stats = summarise([1.0, 2.0, 3.0, float('nan')])
    assert stats['n'] == 3 and stats['mean'] == 2.0
    half = 4.302653 / 3 ** 0.5  # t(0.975, 2 dof) x sd 1 / sqrt(3)
    assert stats['ci95'] == pytest.approx([2.0 - half, 2.0 + half], abs=1e-5)
