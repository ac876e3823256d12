"""A distillation run killed mid-epoch and resumed with ``--resume`` continues exactly.

Three real training runs (mmdet3d's ``tools/train.py``, what ``mim train mmdet3d`` runs) of
the shipped PointPillars 4x distillation config on a two-frame training set (the real KITTI
frame 000008 and its mirror image, batch size 1: 2 iterations per epoch, shuffled by
mmengine's seeded ``DefaultSampler``), 3 epochs, a checkpoint per epoch:

A. uninterrupted;
B. the same run, killed with SIGKILL (a pre-emption) during epoch 2, after its first
   iteration; its last checkpoint is ``epoch_1.pth``;
C. ``--resume`` in B's work dir.

C's per-iteration losses and learning rates (``vis_data/scalars.json``, ``window_size=1``)
equal A's bit for bit, and so do the final checkpoints: student, adapters, teacher,
optimizer (AdamW moments) and parameter schedulers (cosine LR and momentum). The pipeline
has no random augmentation: mmengine 0.10.7 does not save the numpy/python RNG states the
augmentations draw from, so a resumed run with random augmentations draws other samples.

Checkpoints carry the teacher (``teacher.*``): see the tests below for what happens when
the teacher file is gone and when a checkpoint lacks teacher or adapter weights.
"""
import copy
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import load_checkpoint

import mmdet3d
import mmdet3d_pointdistiller  # noqa: F401  registers modules, activates shims
from mmdet3d.registry import MODELS
from mmdet3d_pointdistiller.compat import UnsafeCheckpointError
from mmdet3d_pointdistiller.testing import PP_KD, PicklePayload as _Payload
from mmdet3d_pointdistiller.testing import SMALL_CROP as CROP
from mmdet3d_pointdistiller.testing import kd_config, kitti_real_dir
from mmdet3d_pointdistiller.models.distillers.export import export_student
from mmdet3d_pointdistiller.utils import load_kitti_frame, save_random_teacher

REPO = Path(__file__).resolve().parents[1]
KITTI_REAL = kitti_real_dir()
# mmdet3d's own train.py, what `mim train mmdet3d CONFIG --resume` runs (mim's extra
# start-up, a `train.py -h` call, is left out to keep the three runs fast; the mim entry
# point with --resume is covered by test_mim_train.py)
TRAIN_PY = Path(mmdet3d.__file__).parent / '.mim' / 'tools' / 'train.py'
CLASSES = ['Pedestrian', 'Cyclist', 'Car']
ITERS_PER_EPOCH, EPOCHS = 2, 3

init_default_scope('mmdet3d')


@pytest.fixture(autouse=True)
def _real_frame():
    """The real frame ships in tests/data: a missing file fails, naming the folder."""
    assert (KITTI_REAL / '000008.bin').is_file(), f'real KITTI frame not found under {KITTI_REAL}'


def _dataset(flip: bool) -> dict:
    pipeline = [
        dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=4, use_dim=4),
        dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
        dict(type='PointsRangeFilter', point_cloud_range=CROP),
        dict(type='ObjectRangeFilter', point_cloud_range=CROP),
        dict(type='Pack3DDetInputs', keys=['points', 'gt_bboxes_3d', 'gt_labels_3d'])
    ]
    if flip:
        pipeline.insert(2, dict(type='RandomFlip3D', sync_2d=False,
                                flip_ratio_bev_horizontal=1.0))
    return dict(type='KittiDataset', data_root=str(KITTI_REAL) + '/', ann_file='000008.pkl',
                data_prefix=dict(pts=''), metainfo=dict(classes=CLASSES), pipeline=pipeline,
                box_type_3d='LiDAR', test_mode=False)


def resume_config(tmp: Path) -> Path:
    """The shipped config, cropped, N=200 / K=16, on the two-frame set; no evaluation."""
    cfg = kd_config(PP_KD, CROP)
    ckpt = tmp / 'teacher.pth'
    save_random_teacher(cfg.model.teacher, ckpt)
    cfg.model.teacher_ckpt = str(ckpt)
    cfg.model.distill_cfg[0].loss.update(num_queries=200, num_neighbors=16)
    cfg.train_dataloader = dict(
        batch_size=1, num_workers=0, persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=True),
        dataset=dict(type='ConcatDataset', datasets=[_dataset(False), _dataset(True)]))
    for key in ('val_dataloader', 'val_evaluator', 'val_cfg', 'test_dataloader',
                'test_evaluator', 'test_cfg'):
        cfg[key] = None
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=EPOCHS, val_interval=100)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.default_hooks.visualization = dict(type='Det3DVisualizationHook')
    cfg.log_processor = dict(type='LogProcessor', window_size=1, by_epoch=True)
    # the hooks of the sim configs: precise BN before each (epoch) checkpoint, measured KD
    # statistics every iteration; resume must stay exact with both
    cfg.custom_hooks = [dict(type='PreciseBNHook', num_batches=2, interval=ITERS_PER_EPOCH),
                        dict(type='DistillStatsHook', interval=1, ref_iters=2)]
    cfg.randomness = dict(seed=0)
    path = tmp / 'pointdistiller_resume.py'
    cfg.dump(str(path))
    return path


def _train(cfg: Path, work_dir: Path, *extra: str, **popen) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    return subprocess.Popen(
        [sys.executable, str(TRAIN_PY), str(cfg), '--work-dir', str(work_dir), *extra],
        cwd=REPO, env=env, text=True, stderr=subprocess.STDOUT, start_new_session=True,
        **popen)


def _scalars(work_dir: Path, newest: bool = True) -> dict:
    """step -> logged scalars of the newest (or oldest) run in ``work_dir``."""
    files = sorted(work_dir.glob('*/vis_data/scalars.json'))
    assert files, f'no scalars.json under {work_dir}'
    lines = (files[-1] if newest else files[0]).read_text().splitlines()
    return {rec['step']: rec for rec in map(json.loads, lines) if 'loss' in rec}


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('resume')
    cfg = resume_config(tmp)
    work_a, work_b = tmp / 'uninterrupted', tmp / 'interrupted'
    log_a = open(tmp / 'a.log', 'w')
    proc_a = _train(cfg, work_a, stdout=log_a)
    proc_b = _train(cfg, work_b, stdout=subprocess.PIPE)
    killed_at, out_b = None, []
    deadline = time.monotonic() + 500
    for line in proc_b.stdout:  # kill B (mim and its train.py) during epoch 2
        out_b.append(line)
        if re.search(rf'Epoch\(train\)\s+\[2\]\[\s*1/{ITERS_PER_EPOCH}\]', line):
            os.killpg(proc_b.pid, signal.SIGKILL)
            killed_at = line
            break
        assert time.monotonic() < deadline, ''.join(out_b)[-3000:]
    proc_b.wait(timeout=60)
    proc_b.stdout.close()
    assert killed_at is not None, ''.join(out_b)[-4000:]
    # what the pre-emption left: epoch 1 only
    assert (work_b / 'epoch_1.pth').is_file() and not (work_b / 'epoch_2.pth').exists()
    assert Path((work_b / 'last_checkpoint').read_text().strip()).name == 'epoch_1.pth'
    killed_steps = _scalars(work_b)
    with open(tmp / 'c.log', 'w') as log_c:  # resume while A finishes
        proc_c = _train(cfg, work_b, '--resume', stdout=log_c)
        assert proc_a.wait(timeout=600) == 0, (tmp / 'a.log').read_text()[-4000:]
        assert proc_c.wait(timeout=600) == 0, (tmp / 'c.log').read_text()[-4000:]
    log_a.close()
    return dict(tmp=tmp, cfg=cfg, a=work_a, b=work_b, killed_steps=killed_steps,
                log_c=(tmp / 'c.log').read_text())


def test_resumed_run_repeats_the_uninterrupted_loss_trajectory(runs):
    ref = _scalars(runs['a'])
    total = ITERS_PER_EPOCH * EPOCHS
    assert sorted(ref) == list(range(1, total + 1))
    # the killed run got 1 iteration into epoch 2 (it printed that step; whether the step
    # reached scalars.json before the kill is a race)
    killed = set(runs['killed_steps'])
    assert set(range(1, ITERS_PER_EPOCH + 1)) <= killed <= set(range(1, ITERS_PER_EPOCH + 2))
    assert f'resumed epoch: 1, iter: {ITERS_PER_EPOCH}' in runs['log_c']
    resumed = _scalars(runs['b'])  # the newest log dir of B's work dir: run C
    assert sorted(resumed) == list(range(ITERS_PER_EPOCH + 1, total + 1))
    keys = ('loss', 'loss_cls', 'loss_bbox', 'loss_dir', 'loss_pd_pfn', 'lr',
            # DistillStatsHook: measured adapter outputs, BN shift/scale, weights, and the KD
            # loss over its first-2-iteration mean (restored from the checkpoint)
            'kd_pfn_out_var_t', 'kd_pfn_out_active_s', 'kd_pfn_out_dims_t', 'kd_pfn_bg_s',
            'kd_pfn_neff',
            'kd_pfn_loss_ratio', 'kd_detection_ratio')
    for step, rec in resumed.items():
        for key in keys:
            assert rec[key] == ref[step][key], (step, key, rec[key], ref[step][key])
    for step, rec in runs['killed_steps'].items():
        assert rec['loss'] == ref[step]['loss'], step
    # the trajectory is not trivially flat: LR schedule and KD term move
    assert len({ref[s]['lr'] for s in ref}) == total
    assert len({ref[s]['loss_pd_pfn'] for s in ref}) == total
    # measured on the batch, not derived: about half of a fresh BN-ReLU's outputs are live
    # and their share changes from batch to batch
    active = [ref[s]['kd_pfn_out_active_t'] for s in ref]
    assert all(0.2 < a < 0.8 for a in active) and len(set(active)) > 1
    assert 'PreciseBNHook: BN statistics recomputed over 2 training batches' in runs['log_c']


def test_final_checkpoints_are_identical(runs):
    a = torch.load(runs['a'] / f'epoch_{EPOCHS}.pth', map_location='cpu', weights_only=False)
    c = torch.load(runs['b'] / f'epoch_{EPOCHS}.pth', map_location='cpu', weights_only=False)
    assert a['meta']['epoch'] == c['meta']['epoch'] == EPOCHS
    assert a['meta']['iter'] == c['meta']['iter'] == ITERS_PER_EPOCH * EPOCHS
    assert a['state_dict'].keys() == c['state_dict'].keys()
    prefixes = {k.split('.')[0] for k in a['state_dict']}
    assert prefixes == {'student', 'teacher', 'distill_losses'}
    for key, value in a['state_dict'].items():
        assert torch.equal(value, c['state_dict'][key]), key
    # AdamW moments of every parameter
    sa, sc = a['optimizer']['state'], c['optimizer']['state']
    assert sa.keys() == sc.keys() and len(sa) > 0
    for idx in sa:
        for name in ('exp_avg', 'exp_avg_sq'):
            assert torch.equal(sa[idx][name], sc[idx][name]), (idx, name)
    assert a['optimizer']['param_groups'] == c['optimizer']['param_groups']
    assert a['param_schedulers'] == c['param_schedulers']


def test_runner_keeps_the_teacher_bit_identical_and_trains_the_rest(runs):
    """Through mmengine's Runner with the hooks on: after 6 iterations the checkpoint's
    teacher is the teacher file bit for bit, while student and adapters have moved."""
    cfg = Config.fromfile(str(runs['cfg']))
    teacher_file = torch.load(cfg.model.teacher_ckpt, map_location='cpu',
                              weights_only=True)['state_dict']
    first = torch.load(runs['a'] / 'epoch_1.pth', map_location='cpu', weights_only=False)
    last = torch.load(runs['a'] / f'epoch_{EPOCHS}.pth', map_location='cpu',
                      weights_only=False)['state_dict']
    teacher = {k[len('teacher.'):]: v for k, v in last.items() if k.startswith('teacher.')}
    assert teacher.keys() == teacher_file.keys()
    for key, value in teacher_file.items():
        assert torch.equal(teacher[key], value), key
    for prefix in ('student.', 'distill_losses.'):
        moved = [k for k, v in last.items() if k.startswith(prefix) and v.is_floating_point()
                 and not torch.equal(v, first['state_dict'][k])]
        assert moved, f'nothing under {prefix} changed between epoch 1 and {EPOCHS}'


def test_runner_checkpoint_exports_to_a_plain_student_that_predicts_the_same(runs, tmp_path):
    """The run's last checkpoint, exported, loads strictly into the plain student and
    predicts exactly what the distiller (student path) predicts from that checkpoint."""
    cfg = Config.fromfile(str(runs['cfg']))
    cfg.model.student.test_cfg.score_thr = 0.0  # 6 iterations: keep the low-score boxes too
    ckpt = runs['a'] / f'epoch_{EPOCHS}.pth'
    exported = export_student(str(ckpt), str(tmp_path / 'student.pth'))
    plain = MODELS.build(copy.deepcopy(cfg.model.student))
    plain.load_state_dict(exported['state_dict'], strict=True)
    distiller = MODELS.build(copy.deepcopy(cfg.model))
    load_checkpoint(distiller, str(ckpt), map_location='cpu', strict=True)
    item = load_kitti_frame(KITTI_REAL, CROP, train=False)
    outs, raw = [], []
    for model in (distiller, plain):
        model.eval()
        data = model.data_preprocessor(pseudo_collate([copy.deepcopy(item)]), False)
        with torch.no_grad():
            outs.append(model.predict(copy.deepcopy(data['inputs']),
                                      data['data_samples'])[0].pred_instances_3d)
            raw.append(model._forward(data['inputs']))  # cls, box, dir maps per level
    for a, b in zip(raw[0], raw[1]):
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert len(outs[0].scores_3d) > 0
    assert torch.equal(outs[0].bboxes_3d.tensor, outs[1].bboxes_3d.tensor)
    assert torch.equal(outs[0].scores_3d, outs[1].scores_3d)
    assert torch.equal(outs[0].labels_3d, outs[1].labels_3d)


# ----------------------------------------------------------------------------- teacher
def _model_cfg(runs):
    return copy.deepcopy(Config.fromfile(str(runs['cfg'])).model)


def test_teacher_file_gone_and_checkpoint_as_teacher_ckpt(runs, tmp_path):
    """The run's checkpoints carry the teacher: they can stand in for a lost teacher file."""
    cfg = _model_cfg(runs)
    original = torch.load(cfg.teacher_ckpt, weights_only=True)['state_dict']
    cfg.teacher_ckpt = str(tmp_path / 'deleted_teacher.pth')
    with pytest.raises(FileNotFoundError, match=r"teacher_ckpt='.*deleted_teacher\.pth' is not "
                                                r'a file .* a checkpoint of this distillation '
                                                r'run also works, it carries the teacher'):
        MODELS.build(cfg)
    cfg.teacher_ckpt = str(runs['b'] / 'epoch_1.pth')
    model = MODELS.build(cfg)
    for key, value in original.items():
        assert torch.equal(model.teacher.state_dict()[key], value), key


def test_checkpoint_without_teacher_or_adapters_is_refused(runs, tmp_path):
    cfg = _model_cfg(runs)
    ckpt = torch.load(runs['b'] / 'epoch_1.pth', map_location='cpu', weights_only=False)
    model = MODELS.build(cfg)
    cases = {
        'teacher': ('teacher.', r'missing \d+ of \d+ teacher\.\* keys'),
        'distill_losses': ('distill_losses.', r'missing \d+ of \d+ distill_losses\.\* keys'),
    }
    for name, (prefix, pattern) in cases.items():
        stripped = dict(ckpt, state_dict={k: v for k, v in ckpt['state_dict'].items()
                                          if not k.startswith(prefix)})
        path = tmp_path / f'without_{name}.pth'
        torch.save(stripped, path)
        with pytest.raises(ValueError, match=pattern) as info:
            load_checkpoint(model, str(path), map_location='cpu')  # the runner's load path
        assert 'Distillation checkpoints carry the student, the frozen teacher' in str(info.value)
    # an exported (plain) student checkpoint is not a distiller checkpoint
    plain = {k[len('student.'):]: v for k, v in ckpt['state_dict'].items()
             if k.startswith('student.')}
    path = tmp_path / 'plain_student.pth'
    torch.save({'state_dict': plain}, path)
    with pytest.raises(ValueError, match=r'missing (\d+) of \1 student\.\* keys'):
        load_checkpoint(model, str(path), map_location='cpu')
    # ... the message's recipe: start only the student from it
    cfg.student.init_cfg = dict(type='Pretrained', checkpoint=str(path))
    model = MODELS.build(cfg)
    model.init_weights()
    for key, value in plain.items():
        assert torch.equal(model.student.state_dict()[key], value), key


def test_checkpoint_teacher_wins_over_a_changed_teacher_file(runs, tmp_path):
    cfg = _model_cfg(runs)
    other = tmp_path / 'other_teacher.pth'
    save_random_teacher(cfg.teacher, other, seed=5)
    cfg.teacher_ckpt = str(other)
    model = MODELS.build(cfg)
    records = []
    handler = logging.Handler(level=logging.WARNING)
    handler.emit = lambda record: records.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        load_checkpoint(model, str(runs['b'] / 'epoch_1.pth'), map_location='cpu')
    finally:
        logger.removeHandler(handler)
    assert any(f"the checkpoint's teacher differs from teacher_ckpt {other}" in r
               for r in records), records
    saved = torch.load(runs['b'] / 'epoch_1.pth', map_location='cpu', weights_only=False)
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, saved['state_dict'][f'teacher.{key}']), key


def test_resume_checkpoint_with_a_pickled_object_is_refused(runs, tmp_path):
    ckpt = torch.load(runs['b'] / 'epoch_1.pth', map_location='cpu', weights_only=False)
    marker = tmp_path / 'code_ran'
    ckpt['meta']['note'] = _Payload(marker)
    evil = tmp_path / 'epoch_1_evil.pth'
    torch.save(ckpt, evil)
    model = MODELS.build(_model_cfg(runs))
    with pytest.raises(UnsafeCheckpointError, match=rf'refusing to load checkpoint {evil}'):
        load_checkpoint(model, str(evil), map_location='cpu')
    assert not marker.exists()
