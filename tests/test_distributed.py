"""Two-process data-parallel distillation on CPU (gloo) against a single process.

``torchrun --standalone --nproc_per_node=2`` starts this file as a worker script. Each
worker initialises the default process group from torchrun's environment (``env://``, what
mmengine's ``init_dist('pytorch', backend='gloo')`` does, minus its unconditional
``torch.cuda.set_device`` that a CPU-only torch build lacks) and wraps the distiller in
mmengine's ``MMDistributedDataParallel`` exactly as the runner's ``model_wrapper_cfg`` path
builds it (``broadcast_buffers=False``, ``find_unused_parameters=False``, no
``device_ids`` for a CPU module). Rank ``r`` trains on frame ``r`` of a global batch of two
real KITTI frames (000008 and its mirror image), one frame per rank.

What "the same global batch" means here: DDP averages the per-rank gradients, so the
single-process equivalent is gradient accumulation over the same two frames as two
micro-batches of one (sum of ``loss_r / 2``). A single batch of two frames is a different
objective for these detectors, with or without distillation: BatchNorm normalises with the
statistics of the whole batch, and mmdet3d's anchor head divides by the number of positive
anchors of the whole batch.

Tolerance: losses and averaged gradients of the distributed run equal the single-process
ones to ``rtol=1e-5, atol=1e-7`` (float32; gloo sums ``g0/2 + g1/2`` while the reference
back-propagates ``loss_r / 2``, so the last bits may differ). The gradients of the two ranks
are bitwise equal.
"""
import copy
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

import mmdet3d_pointdistiller  # noqa: F401  registers modules, activates shims
from mmdet3d_pointdistiller.testing import (build_model, frames, kitti_real_dir,
                                            small_distiller_cfg)

KITTI_REAL = kitti_real_dir()
init_default_scope('mmdet3d')
WORLD_SIZE = 2
RTOL, ATOL = 1e-5, 1e-7
STUDENT_PARAM = 'student.voxel_encoder.pfn_layers.0.linear.weight'
TEACHER_PARAM = 'teacher.voxel_encoder.pfn_layers.0.linear.weight'
TEACHER_BUFFER = 'teacher.voxel_encoder.pfn_layers.0.norm.running_mean'


def trainable(model):
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def optim_cfg():
    return dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01),
                clip_grad=dict(max_norm=35, norm_type=2))


# ----------------------------------------------------------------------------- worker
def _worker(out_dir: str, cfg_path: str) -> None:
    """One rank: DDP wrap checks, one manual step (grads saved), two mmengine train_steps."""
    import torch.distributed as dist
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import MODEL_WRAPPERS
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group(backend='gloo')
    rank = dist.get_rank()
    assert dist.get_world_size() == WORLD_SIZE
    init_default_scope('mmdet3d')
    torch.set_num_threads(1)
    model = build_model(Config.fromfile(cfg_path).model)
    state = model.state_dict()
    original = {k: state[k].clone() for k in (STUDENT_PARAM, TEACHER_PARAM, TEACHER_BUFFER)}
    if rank == 1:  # DDP must overwrite the student with rank 0's copy, never the teacher
        with torch.no_grad():
            for key in original:
                state[key].add_(1.0)
    ddp = MODEL_WRAPPERS.build(dict(type='MMDistributedDataParallel', module=model,
                                    broadcast_buffers=False, find_unused_parameters=False))
    report = dict(rank=rank)
    state = model.state_dict()
    report['student_param_is_rank0s'] = torch.equal(state[STUDENT_PARAM],
                                                    original[STUDENT_PARAM])
    report['teacher_kept_own_copy'] = all(
        torch.equal(state[k], original[k] + (1.0 if rank == 1 else 0.0))
        for k in (TEACHER_PARAM, TEACHER_BUFFER))
    with torch.no_grad():  # back to the common teacher for the comparison with one process
        for key in (TEACHER_PARAM, TEACHER_BUFFER):
            state[key].copy_(original[key])
    teacher_names = {f'teacher.{n}' for n, _ in model.teacher.named_parameters()} | {
        f'teacher.{n}' for n, _ in model.teacher.named_buffers()}
    report['num_teacher_names'] = len(teacher_names)
    report['teacher_names_ignored'] = sorted(teacher_names - set(ddp.parameters_to_ignore))
    report['ignored_non_teacher'] = sorted(
        n for n in ddp.parameters_to_ignore if not n.startswith('teacher.'))
    report['ddp_num_parameter_tensors'] = ddp._get_ddp_logging_data().get(
        'num_parameter_tensors')
    report['num_trainable'] = len(trainable(model))
    report['nested_ddp'] = sum(isinstance(m, DistributedDataParallel) for m in model.modules())

    item = frames()[rank]
    # step 1 by hand, to read the all-reduced gradients
    data = ddp.module.data_preprocessor(pseudo_collate([copy.deepcopy(item)]), True)
    losses = ddp(**data, mode='loss')
    loss, log_vars = ddp.module.parse_losses(losses)
    loss.backward()
    report['step1'] = {k: float(v) for k, v in log_vars.items()}
    torch.save({n: p.grad.detach().clone() for n, p in trainable(model).items()
                if p.grad is not None}, Path(out_dir) / f'grads_rank{rank}.pt')
    report['params_without_grad'] = sorted(n for n, p in trainable(model).items()
                                           if p.grad is None)
    optim = build_optim_wrapper(ddp.module, optim_cfg())
    optim.step()
    optim.zero_grad()

    # step 2 (mmengine's MMDistributedDataParallel.train_step): rank 1's teacher feature is
    # NaN, its KD term is skipped; with find_unused_parameters=False, step 3 raises if any
    # parameter missed its gradient in step 2
    warnings = []
    logger = MMLogger.get_current_instance()  # rank != 0 prints only errors: collect here
    collector = logging.Handler(level=logging.WARNING)
    collector.emit = lambda record: warnings.append(record.getMessage())
    logger.addHandler(collector)
    handle = None
    if rank == 1:
        handle = model.teacher.voxel_encoder.register_forward_hook(
            lambda mod, args, out: torch.full_like(out, float('nan')), prepend=True)
    report['step2'] = {k: float(v) for k, v in ddp.train_step(
        pseudo_collate([copy.deepcopy(item)]), optim).items()}
    if handle is not None:
        handle.remove()
    logger.removeHandler(collector)
    report['step2_warnings'] = warnings
    report['step3'] = {k: float(v) for k, v in ddp.train_step(
        pseudo_collate([copy.deepcopy(item)]), optim).items()}
    flat = torch.cat([p.detach().reshape(-1) for p in trainable(model).values()])
    gathered = [torch.zeros_like(flat) for _ in range(WORLD_SIZE)]
    dist.all_gather(gathered, flat)
    report['ranks_agree_after_steps'] = all(torch.equal(g, gathered[0]) for g in gathered)
    report['params_finite'] = bool(torch.isfinite(flat).all())
    report['teacher_unchanged'] = all(torch.equal(model.state_dict()[k], original[k])
                                      for k in (TEACHER_PARAM, TEACHER_BUFFER))
    with open(Path(out_dir) / f'report_rank{rank}.json', 'w') as f:
        json.dump(report, f)
    dist.destroy_process_group()


# ----------------------------------------------------------------------------- test
@pytest.fixture(scope='module')
def distributed_run(tmp_path_factory):
    if not (KITTI_REAL / '000008.bin').is_file():
        pytest.fail(f'real KITTI frame not found under {KITTI_REAL}')
    if not torch.distributed.is_gloo_available():
        pytest.skip('torch.distributed has no gloo backend')
    tmp = tmp_path_factory.mktemp('ddp')
    cfg = small_distiller_cfg(tmp)
    cfg_path = tmp / 'model_cfg.py'
    cfg.dump(str(cfg_path))
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--standalone',
         f'--nproc_per_node={WORLD_SIZE}', __file__, '--worker', str(tmp), str(cfg_path)],
        env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    reports = [json.loads((tmp / f'report_rank{r}.json').read_text())
               for r in range(WORLD_SIZE)]
    grads = [torch.load(tmp / f'grads_rank{r}.pt') for r in range(WORLD_SIZE)]
    return dict(cfg=cfg, reports=reports, grads=grads, out=out)


def test_teacher_is_never_synchronised_nor_in_ddp_buckets(distributed_run):
    for rep in distributed_run['reports']:
        assert rep['nested_ddp'] == 0  # only the whole distiller is wrapped, once
        assert rep['student_param_is_rank0s'], 'DDP did not broadcast the student'
        assert rep['teacher_kept_own_copy'], 'DDP broadcast the teacher from rank 0'
        assert rep['num_teacher_names'] > 0
        assert rep['teacher_names_ignored'] == []  # every teacher tensor is ignored by DDP
        assert rep['ignored_non_teacher'] == []  # and nothing else
        # DDP's reducer holds exactly the student's and the adapters' parameters
        assert rep['ddp_num_parameter_tensors'] == rep['num_trainable']
        assert rep['params_without_grad'] == []
        assert rep['teacher_unchanged']


def test_losses_and_gradients_match_one_process(distributed_run):
    model = build_model(distributed_run['cfg'].model)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ref_logs = []
        for item in frames():  # gradient accumulation over the two micro-batches
            data = model.data_preprocessor(pseudo_collate([copy.deepcopy(item)]), True)
            loss, log_vars = model.parse_losses(model(**data, mode='loss'))
            (loss / WORLD_SIZE).backward()
            ref_logs.append({k: float(v) for k, v in log_vars.items()})
    finally:
        torch.set_num_threads(threads)
    reports, grads = distributed_run['reports'], distributed_run['grads']
    for rank, rep in enumerate(reports):
        assert set(rep['step1']) == set(ref_logs[rank])
        assert rep['step1']['loss_pd_pfn'] > 0
        for key, value in ref_logs[rank].items():
            assert rep['step1'][key] == pytest.approx(value, rel=RTOL, abs=ATOL), (rank, key)
    ref_grads = {n: p.grad for n, p in trainable(model).items()}
    assert set(grads[0]) == set(ref_grads)  # student + adapters, no teacher
    assert not any(n.startswith('teacher.') for n in grads[0])
    assert any(n.startswith('distill_losses.') for n in grads[0])
    for name, ref in ref_grads.items():
        assert torch.equal(grads[0][name], grads[1][name]), name  # all-reduced
        torch.testing.assert_close(grads[0][name], ref, rtol=RTOL, atol=ATOL, msg=name)
    # the KD term moves the student: its gradient differs from the detection-only one
    assert ref_grads[STUDENT_PARAM].abs().sum() > 0


def test_kd_skip_on_one_rank_keeps_ddp_in_step(distributed_run):
    r0, r1 = distributed_run['reports']
    assert r1['step2']['loss_pd_pfn'] == 0.0 and r0['step2']['loss_pd_pfn'] > 0
    assert any('teacher feature contains NaN/Inf for loss_pd_pfn' in w
               for w in r1['step2_warnings']), r1['step2_warnings']
    assert not any('NaN' in w for w in r0['step2_warnings'])
    # step 3 ran (no "Expected to have finished reduction" error) with both KD terms
    assert r0['step3']['loss_pd_pfn'] > 0 and r1['step3']['loss_pd_pfn'] > 0
    for rep in (r0, r1):
        assert rep['ranks_agree_after_steps'] and rep['params_finite']


if __name__ == '__main__' and len(sys.argv) == 4 and sys.argv[1] == '--worker':
    _worker(sys.argv[2], sys.argv[3])
