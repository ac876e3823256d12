"""Mixed precision: the KD loss is computed in float32 inside autocast.

Under ``torch.autocast`` the student and teacher layers run in bfloat16/float16, so the
features handed to ``PointDistillerLoss`` are low precision; the loss disables autocast and
computes in float32 (squared feature differences and BatchNorm statistics cannot overflow the
float16 range). Training with AMP on a GPU is ``--amp`` (mmdet3d's ``tools/train.py`` sets
``optim_wrapper.type='AmpOptimWrapper'``, ``loss_scale='dynamic'``, float16) or
``--cfg-options optim_wrapper.type=AmpOptimWrapper optim_wrapper.dtype=bfloat16``.
mmengine's ``AmpOptimWrapper`` refuses to be built without an accelerator, so the CPU test
of a bf16 training step uses an ``OptimWrapper`` whose ``optim_context`` enters the same
``mmengine.runner.amp.autocast`` that ``AmpOptimWrapper.optim_context`` enters; the float16
``AmpOptimWrapper`` step runs where CUDA is available.

Tolerances: a KD loss recomputed in float32 from the captured low-precision features equals
the autocast value exactly; against a full float32 forward (features rounded to bf16 /
fp16 inside the layers) it agrees to ``rel=5e-3`` (measured on frame 000008: 1.7e-4 bf16,
7e-5 fp16).
"""
import contextlib
import copy
import math

import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner.amp import autocast

import mmdet3d_pointdistiller  # noqa: F401  registers modules, activates shims
from mmdet3d_pointdistiller.models.losses import PointDistillerLoss
from mmdet3d_pointdistiller.testing import (build_model, frames, kitti_real_dir,
                                            small_distiller_cfg)

KITTI_REAL = kitti_real_dir()

init_default_scope('mmdet3d')
REL_TOL = 5e-3


pytestmark = pytest.mark.usefixtures('single_thread')  # tests/conftest.py


@pytest.fixture(scope='module')
def small(tmp_path_factory):
    if not (KITTI_REAL / '000008.bin').is_file():
        pytest.fail(f'real KITTI frame not found under {KITTI_REAL}')
    return dict(cfg=small_distiller_cfg(tmp_path_factory.mktemp('amp')), item=frames()[0])


class _Capture:
    """Forward hook on the loss module: its inputs and output."""

    def __init__(self, module):
        self.handle = module.register_forward_hook(self, with_kwargs=True)

    def __call__(self, module, args, kwargs, output):
        self.teacher, self.student = args[0].detach(), args[1].detach()
        self.kwargs, self.output = kwargs, output


def _fresh(model, item):
    # preprocess for every forward: mmdet3d's PillarFeatureNet writes into its input voxels
    data = model.data_preprocessor(pseudo_collate([copy.deepcopy(item)]), True)
    return data['inputs'], data['data_samples']


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_kd_loss_is_float32_under_cpu_autocast(small, dtype):
    model = build_model(small['cfg'].model)
    capture = _Capture(model.distill_losses['pfn'])
    ref = model.loss(*_fresh(model, small['item']))['loss_pd_pfn']
    with torch.autocast('cpu', dtype=dtype):
        losses = model.loss(*_fresh(model, small['item']))
    kd = losses['loss_pd_pfn']
    # the layers ran in low precision, the KD loss did not
    assert capture.teacher.dtype == dtype and capture.student.dtype == dtype
    assert kd.dtype == torch.float32 and capture.output.dtype == torch.float32
    again = model.distill_losses['pfn'](capture.teacher.float(), capture.student.float(),
                                        **capture.kwargs)
    assert again.item() == kd.item()
    assert kd.item() == pytest.approx(ref.item(), rel=REL_TOL)
    assert kd.item() != ref.item()  # the inputs really were rounded


class _CpuBf16OptimWrapper(OptimWrapper):
    """``AmpOptimWrapper.optim_context`` for the CPU: bf16 autocast, no loss scaling."""

    @contextlib.contextmanager
    def optim_context(self, model):
        with super().optim_context(model), autocast(device_type='cpu', dtype=torch.bfloat16):
            yield


def _check_steps(model, optim, item, steps=2):
    teacher = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    student = {k: v.clone() for k, v in model.student.named_parameters()}
    capture = _Capture(model.distill_losses['pfn'])
    logs = []
    for _ in range(steps):
        logs.append(model.train_step(pseudo_collate([copy.deepcopy(item)]), optim))
        assert capture.output.dtype == torch.float32
    for log in logs:
        assert all(math.isfinite(float(v)) for v in log.values())
        assert float(log['loss_pd_pfn']) > 0
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value.cpu(), teacher[key].cpu()), key
    for name, param in model.named_parameters():
        assert torch.isfinite(param).all(), name
        if param.requires_grad:
            assert param.dtype == torch.float32, name  # master weights stay fp32
    changed = [n for n, p in model.student.named_parameters()
               if not torch.equal(p.detach().cpu(), student[n].cpu())]
    assert 'voxel_encoder.pfn_layers.0.linear.weight' in changed
    return logs


def test_bf16_autocast_training_step_on_cpu(small):
    model = build_model(small['cfg'].model)
    optim = _CpuBf16OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3,
                                                   weight_decay=0.01))
    _check_steps(model, optim, small['item'])


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='float16 AMP needs CUDA')
def test_fp16_amp_optim_wrapper_on_cuda(small):
    model = build_model(small['cfg'].model).cuda()
    optim = build_optim_wrapper(model, dict(
        type='AmpOptimWrapper', dtype='float16', loss_scale='dynamic',
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01),
        clip_grad=dict(max_norm=35, norm_type=2)))
    _check_steps(model, optim, small['item'], steps=3)


def test_fp32_loss_survives_fp16_range_features():
    """Features near the float16 limit: float16 arithmetic overflows, the loss does not."""
    torch.manual_seed(0)
    module = PointDistillerLoss(teacher_channels=64, student_channels=32, adapter_channels=32,
                                num_queries=64, num_neighbors=8)
    batch_idx = torch.cat([torch.zeros(150, dtype=torch.long), torch.ones(120,
                                                                          dtype=torch.long)])
    num_points = torch.randint(1, 33, (270, ))
    teacher = (torch.randn(270, 64) * 2e4).clamp(-6e4, 6e4).half()
    student = (torch.randn(270, 32) * 2e4).clamp(-6e4, 6e4).half().requires_grad_()
    # float16 arithmetic on such features: squared differences overflow to inf
    assert torch.isinf((teacher[:, :32] - student.detach()) ** 2).any()
    with torch.autocast('cpu', dtype=torch.float16):
        loss = module(teacher, student, batch_idx, num_points)
    assert loss.dtype == torch.float32 and math.isfinite(loss.item()) and loss.item() > 0
    ref = copy.deepcopy(module).double()(teacher.double(), student.detach().double(),
                                         batch_idx, num_points)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    loss.backward()
    assert student.grad is not None and torch.isfinite(student.grad.float()).all()
