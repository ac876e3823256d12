"""The runner's own distributed start on CPU: ``mim train mmdet3d CONFIG --launcher pytorch
--gpus 2`` and ``torchrun --nproc_per_node 2 tools/train.py CONFIG --launcher pytorch``.

mmdet3d's unchanged ``tools/train.py`` trains the PointDistiller sim config (4x student, a
random teacher) on the 4 training frames of the session's simulated KITTI set
(``sim_kitti_small``, tests/conftest.py), with 2 gloo
processes, through mmengine's ``init_dist`` and ``wrap_model`` (made to work without CUDA by
``mmdet3d_pointdistiller.compat.dist_cpu``; no model wrapping by hand). The first distributed
run is started by ``mim train`` (``torch.distributed.launch``), the resumed one by torchrun.

Same total batch: 2 processes x 1 frame (DDP averages the two gradients) is compared with
1 process x 1 frame accumulating 2 micro-batches (``optim_wrapper.accumulative_counts=2``,
which scales each loss by 1/2 and sums): the same objective. One process x a batch of 2
frames is a different one for these detectors (BatchNorm over the batch, the anchor head's
normalisation by the positives of the whole batch), see tests/test_distributed.py. To give
both runs the same frames in the same order, the pipeline has no random augmentation, the
sampler does not shuffle and the learning rate is constant (a per-iteration schedule would
step twice as often with accumulation).

Tolerance: the losses that rank 0 logs equal those of the single process's matching
micro-batches to rel 1e-5, and the final student + adapter parameters to atol 1e-5 after 4
AdamW steps (float32; gloo sums g0/2 + g1/2 while the reference back-propagates loss/2).
BatchNorm running statistics are not compared: under DDP (``broadcast_buffers=False``, no
SyncBN) they are per-rank buffers, and rank 0's checkpoint holds those of its own frames.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
import torch

import mmdet3d_pointdistiller  # noqa: F401  registers modules, activates shims
from mmdet3d_pointdistiller.compat import dist_cpu
from mmdet3d_pointdistiller import sim as sk
from mmdet3d_pointdistiller.utils import save_random_teacher

REPO = Path(__file__).resolve().parents[1]
KD_CFG = (REPO / 'configs/sim/'
          'pointdistiller_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py')
TRAIN = Path(sk.mmdet3d_mim_root()) / 'tools' / 'train.py'
STEPS = 4
BN_BUFFERS = ('running_mean', 'running_var', 'num_batches_tracked')
PCR = [0, -20.48, -3, 40.96, 20.48, 1]

pytestmark = [
    pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU start (no CUDA)'),
    pytest.mark.skipif(not torch.distributed.is_gloo_available(), reason='no gloo backend'),
]

CONFIG = f"""
_base_ = [{str(KD_CFG)!r}]
train_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=4, use_dim=4),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='PointsRangeFilter', point_cloud_range={PCR}),
    dict(type='ObjectRangeFilter', point_cloud_range={PCR}),
    dict(type='Pack3DDetInputs', keys=['points', 'gt_labels_3d', 'gt_bboxes_3d']),
]
train_dataloader = dict(batch_size=1, sampler=dict(type='DefaultSampler', shuffle=False),
                        dataset=dict(times=1, dataset=dict(pipeline=train_pipeline)))
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None
param_scheduler = []
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters={STEPS})
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=2, max_keep_ckpts=4, save_last=True))
custom_hooks = []
log_processor = dict(window_size=1)  # log each iteration's own losses, not a running mean
"""


@pytest.fixture(scope='module')
def prepared(tmp_path_factory, sim_kitti_small) -> Dict[str, Path]:
    """The session's converted simulated KITTI set (4 train frames), the config, a teacher."""
    root = tmp_path_factory.mktemp('dist_launch')
    data = sim_kitti_small
    cfg_path = root / 'kd_dist.py'
    cfg_path.write_text(CONFIG)
    teacher = root / 'teacher.pth'
    save_random_teacher(_teacher_model_cfg(cfg_path), teacher)
    return dict(root=root, data=data, cfg=cfg_path, teacher=teacher)


def _teacher_model_cfg(cfg_path: Path):
    """The teacher's detector config, as the distiller reads it (``teacher.cfg_path``)."""
    from mmengine.config import Config
    cfg = Config.fromfile(str(cfg_path))
    return Config.fromfile(cfg.model.teacher.cfg_path).model


def _train(prepared, work: Path, nproc: int, *extra: str, mim: bool = False) -> str:
    """tools/train.py on ``nproc`` processes: ``--launcher pytorch`` under torchrun, or under
    ``mim train --gpus nproc`` (``mim=True``), when ``nproc > 1``."""
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
               PD_SIM_KITTI=str(prepared['data']) + '/')
    common = ['--work-dir', str(work), '--cfg-options',
              f"model.teacher_ckpt={prepared['teacher']}", *extra]
    if mim:
        cmd = [str(Path(sys.executable).with_name('mim')), 'train', 'mmdet3d',
               str(prepared['cfg']), '--launcher', 'pytorch', '--gpus', str(nproc), *common]
    elif nproc > 1:
        cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone',
               f'--nproc_per_node={nproc}', str(TRAIN), str(prepared['cfg']),
               '--launcher', 'pytorch', *common]
    else:
        cmd = [sys.executable, str(TRAIN), str(prepared['cfg']), *common]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=REPO)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    return out


def _scalars(work: Path) -> List[dict]:
    files = sorted(work.glob('*/vis_data/scalars.json'))
    assert files, f'no scalars.json under {work}'
    return [json.loads(line) for line in files[-1].read_text().splitlines() if line.strip()]


def _losses(work: Path) -> Dict[int, Dict[str, float]]:
    return {rec['iter']: {k: v for k, v in rec.items() if k.startswith('loss')}
            for rec in _scalars(work) if 'loss' in rec}


def _weights(ckpt: Path) -> dict:
    """A runner checkpoint (state_dict, optimizer, meta, message hub)."""
    return torch.load(ckpt, map_location='cpu', weights_only=False)


@pytest.fixture(scope='module')
def runs(prepared):
    root = prepared['root']
    two = root / 'two'
    out_two = _train(prepared, two, 2, mim=True)
    one = root / 'one'
    out_one = _train(prepared, one, 1, f'train_cfg.max_iters={2 * STEPS}',
                     'optim_wrapper.accumulative_counts=2',
                     'default_hooks.checkpoint.interval=4')
    return dict(two=two, one=one, out_two=out_two, out_one=out_one)


def test_two_gloo_processes_start_through_the_runner(runs):
    out = runs['out_two']
    assert 'torch.distributed.launch --nproc_per_node=2' in out  # mim's launch command
    assert "compat.dist_cpu: no CUDA: mmengine.dist.utils._init_dist_pytorch rebound" in out
    assert "backend 'nccl' -> 'gloo'" in out
    assert 'device_ids=[0] dropped for the CPU module' in out
    assert 'Distributed launcher: pytorch' in out and 'Distributed training: True' in out
    assert 'GPU number: 2' in out, out[-3000:]  # mmengine's name for the world size
    assert (runs['two'] / f'iter_{STEPS}.pth').is_file()


def test_same_losses_and_weights_as_one_process_with_the_same_total_batch(runs):
    two, one = _losses(runs['two']), _losses(runs['one'])
    assert sorted(two) == list(range(1, STEPS + 1))
    for step in range(1, STEPS + 1):
        ref = one[2 * step - 1]  # micro-batch 2k-1 of the single process = rank 0's frame
        assert set(two[step]) == set(ref)
        assert two[step]['loss_pd_pfn'] > 0
        for key, value in ref.items():
            assert two[step][key] == pytest.approx(value, rel=1e-5, abs=1e-7), (step, key)
    w_two = _weights(runs['two'] / f'iter_{STEPS}.pth')
    w_one = _weights(runs['one'] / f'iter_{2 * STEPS}.pth')
    # parameters only: BatchNorm running statistics are per-rank buffers under DDP
    # (broadcast_buffers=False, no SyncBN): rank 0's checkpoint holds those of its own frames
    trained = [k for k in w_two['state_dict'] if not k.startswith('teacher.')
               and not k.endswith(BN_BUFFERS)]
    assert any(k.startswith('distill_losses.') for k in trained)
    for key in trained:
        a, b = w_two['state_dict'][key], w_one['state_dict'][key]
        if a.is_floating_point():
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5, msg=key)
    start = _weights(runs['two'] / 'iter_2.pth')['state_dict']
    moved = max(float((w_two['state_dict'][k].float() - start[k].float()).abs().max())
                for k in trained if w_two['state_dict'][k].is_floating_point())
    assert moved > 1e-4  # the last two steps changed the weights
    # Adam took STEPS steps in both
    steps_two = {int(s['step']) for s in w_two['optimizer']['state'].values()}
    steps_one = {int(s['step']) for s in w_one['optimizer']['state'].values()}
    assert steps_two == steps_one == {STEPS}


@pytest.mark.slow  # ~30-50 s: two more launches; the two-process run itself stays default
def test_distributed_checkpoint_resumes_in_two_and_in_one_process(prepared, runs):
    root, two = prepared['root'], runs['two']
    resumed2 = root / 'resumed2'
    out2 = _train(prepared, resumed2, 2, f'load_from={two / "iter_2.pth"}', 'resume=True')
    assert 'resumed iter: 2' in out2 or 'resumed epoch: 0, iter: 2' in out2, out2[-3000:]
    # the resumed distributed run repeats the uninterrupted one's last two steps
    full, again = _losses(two), _losses(resumed2)
    for step in (3, 4):
        for key, value in full[step].items():
            assert again[step][key] == pytest.approx(value, rel=1e-6, abs=1e-8), (step, key)
    end_full = _weights(two / f'iter_{STEPS}.pth')['state_dict']
    end_again = _weights(resumed2 / f'iter_{STEPS}.pth')['state_dict']
    for key, value in end_full.items():
        if value.is_floating_point():
            torch.testing.assert_close(end_again[key], value, rtol=0, atol=1e-6, msg=key)
    # one process, the same total batch per step (2 frames), from the distributed checkpoint
    resumed1 = root / 'resumed1'
    out1 = _train(prepared, resumed1, 1, f'load_from={two / "iter_2.pth"}', 'resume=True',
                  'train_dataloader.batch_size=2')
    assert 'resumed iter: 2' in out1 or 'resumed epoch: 0, iter: 2' in out1, out1[-3000:]
    end1 = _weights(resumed1 / f'iter_{STEPS}.pth')
    assert {int(s['step']) for s in end1['optimizer']['state'].values()} == {STEPS}
    assert end1['meta']['iter'] == STEPS
    start = _weights(two / 'iter_2.pth')['state_dict']
    for key, value in end1['state_dict'].items():
        if key.startswith('teacher.'):
            assert torch.equal(value, start[key]), key  # the frozen teacher is carried as is
    losses1 = _losses(resumed1)
    assert sorted(losses1) == [3, 4]
    assert all(v == v and v < 1e3 for rec in losses1.values() for v in rec.values())


def test_shim_is_inactive_with_cuda(monkeypatch):
    import mmengine.dist.utils as dist_utils
    from mmengine.model.wrappers import MMDistributedDataParallel
    assert getattr(dist_utils._init_dist_pytorch, '_pd_dist_cpu', False)
    assert getattr(MMDistributedDataParallel.__init__, '_pd_dist_cpu', False)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    try:
        assert dist_cpu.register_dist_cpu() is False
        assert not hasattr(dist_utils._init_dist_pytorch, '_pd_dist_cpu')
        assert not hasattr(MMDistributedDataParallel.__init__, '_pd_dist_cpu')
    finally:
        monkeypatch.undo()
        assert dist_cpu.register_dist_cpu() is True
    assert dist_utils._init_dist_pytorch._pd_dist_cpu
