"""CUDA-only checks (marker ``cuda``; each skips without CUDA). ``tools/gpu_check.sh`` runs
them together with every other CUDA test and fails on any skip it does not expect.

* a SECOND PointDistiller training step on CUDA with spconv's CUDA build (CPU machines run
  SECOND through ``compat/spconv_cpu.py``; this is the path real users take);
* the ONNX export's parity with PyTorch under ONNX Runtime's CUDA execution provider
  (needs ``onnxruntime-gpu``; skipped with that reason when only the CPU provider exists).
"""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

import mmdet3d_pointdistiller  # noqa: F401  registers modules, activates shims
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from mmdet3d_pointdistiller.deploy.models import load_config
from mmdet3d_pointdistiller.testing import kitti_real_dir
from mmdet3d_pointdistiller.utils import load_kitti_frame, save_random_teacher

REPO = Path(__file__).resolve().parents[1]
KITTI_REAL = kitti_real_dir()

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA'),
]


def _frame(pcr, train: bool = True):
    if not (KITTI_REAL / '000008.pkl').is_file():
        pytest.fail(f'real KITTI frame not found under {KITTI_REAL}')
    return load_kitti_frame(KITTI_REAL, pcr, train=train)


def test_second_distillation_step_with_spconv_on_cuda(tmp_path):
    pytest.importorskip('spconv.pytorch', reason='spconv CUDA build (spconv-cuXXX) missing')
    from mmdet3d.registry import MODELS
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(
        str(REPO / 'configs/pointdistiller/pointdistiller_second-4x_hv_secfpn_8xb6-80e_kitti-3d-'
            '3class.py'))
    teacher_cfg = load_config(cfg.model.teacher.cfg_path).model  # an mmdet3d:: path
    save_random_teacher(teacher_cfg, tmp_path / 'teacher.pth')
    cfg.model.teacher_ckpt = str(tmp_path / 'teacher.pth')
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg.model)).cuda().train()
    optim = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    pcr = teacher_cfg.data_preprocessor.voxel_layer.point_cloud_range
    batch = pseudo_collate([_frame(pcr), _frame(pcr)])
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    logs = model.train_step(batch, optim)
    assert any(k.startswith('loss_pd') for k in logs)
    for key, value in logs.items():
        assert torch.isfinite(value).all(), (key, value)
    assert all(v > 0 for k, v in logs.items() if k.startswith('loss_pd'))
    moved = [n for n, p in model.named_parameters() if n in before
             and not torch.equal(p.detach(), before[n])]
    assert any(n.startswith('student.middle_encoder') for n in moved)  # spconv layers train
    assert not any(n.startswith('teacher.') for n in moved)


def test_onnx_parity_with_cuda_execution_provider(tmp_path):
    ort = pytest.importorskip('onnxruntime', reason='deploy extra not installed')
    if 'CUDAExecutionProvider' not in ort.get_available_providers():
        pytest.skip('onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu of the '
                    'pinned version to check it)')
    from mmdet3d_pointdistiller.deploy import (OnnxPointPillars, TorchPointPillars,
                                               build_detector, check_exportable,
                                               compare_predictions, export_onnx, max_abs_diff,
                                               named_config)
    from mmdet3d_pointdistiller.deploy.models import save_random_detector
    for name in ('4x_sim', '16x_kitti'):
        cfg = named_config(name)
        model_cfg = check_exportable(cfg)
        save_random_detector(model_cfg, tmp_path / f'{name}.pth', seed=3)
        detector = build_detector(cfg, tmp_path / f'{name}.pth')
        points = _frame(model_cfg.data_preprocessor.voxel_layer.point_cloud_range,
                        train=False)['inputs']['points']
        path = export_onnx(detector, model_cfg, tmp_path / f'{name}.onnx', points)
        ref = TorchPointPillars(detector, model_cfg)  # PyTorch on the CPU: the reference
        # TF32 off: ONNX Runtime's CUDA provider enables it by default (10-bit mantissa)
        gpu = OnnxPointPillars(path, providers=[('CUDAExecutionProvider', {'use_tf32': 0}),
                                                'CPUExecutionProvider'])
        assert gpu.session.get_providers()[0] == 'CUDAExecutionProvider'
        voxels = ref.voxelise(points)
        diff = max_abs_diff(ref.run_net(voxels), gpu.run_net(voxels))
        assert diff['max_abs_diff'] < 1e-4, (name, diff)
        boxes = compare_predictions(ref.predict(points), gpu.predict(points))
        assert boxes['boxes_equal'] and boxes['count_ref'] > 0, (name, boxes)
