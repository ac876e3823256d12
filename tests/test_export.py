"""Student export (models/distillers/export.py and tools/export_student.py): distillation
checkpoint -> plain student checkpoint.

The exported file must load with ``strict=True`` into the student-only baseline config and
run under ``mim test mmdet3d`` (here on mmdet3d's one-frame KITTI set).
"""
import copy
import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import get_state_dict, load_checkpoint, weights_to_cpu

import mmdet3d_pointdistiller  # noqa: F401  registers modules, activates shims
from mmdet3d.registry import MODELS
from mmdet3d_pointdistiller.models.distillers import load_teacher_config
from mmdet3d_pointdistiller.models.distillers.export import ExportError, export_student
from mmdet3d_pointdistiller.testing import kitti_mini_dir

REPO = Path(__file__).resolve().parents[1]
MINI = kitti_mini_dir()
TOOL = REPO / 'tools' / 'export_student.py'
MIM = Path(sys.executable).with_name('mim')
PP_KD = REPO / 'configs/pointdistiller/pointdistiller_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py'  # noqa: E501
PP_BASELINE = REPO / 'configs/pointpillars/pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py'
SECOND_KD = REPO / 'configs/pointdistiller/pointdistiller_second-16x_hv_secfpn_8xb6-80e_kitti-3d-3class.py'  # noqa: E501
SECOND_BASELINE = REPO / 'configs/second/second-16x_hv_secfpn_8xb6-80e_kitti-3d-3class.py'
CLASSES = ['Pedestrian', 'Cyclist', 'Car']

init_default_scope('mmdet3d')


def distillation_checkpoint(kd_config: Path, out: Path):
    """Build the distiller of ``kd_config`` and save a checkpoint shaped like the runner's."""
    cfg = Config.fromfile(str(kd_config))
    teacher_cfg = load_teacher_config(cfg.model.teacher)
    teacher_ckpt = out.with_name(out.stem + '_teacher.pth')
    torch.save({'state_dict': MODELS.build(teacher_cfg).state_dict()}, teacher_ckpt)
    cfg.model.teacher_ckpt = str(teacher_ckpt)
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.init_weights()
    with torch.no_grad():  # make BN statistics non-trivial so that equality is meaningful
        for m in model.student.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    hub = MessageHub.get_instance(f'export-{out.stem}')
    hub.update_scalar('train/loss', 1.5)
    ckpt = dict(
        meta=dict(epoch=80, iter=1234, cfg=cfg.pretty_text, seed=0,
                  experiment_name='pd_test', mmengine_version='0.10.7',
                  dataset_meta=dict(classes=CLASSES)),
        state_dict=weights_to_cpu(get_state_dict(model)),
        optimizer=optimizer.state_dict(),
        message_hub=hub.state_dict())
    torch.save(ckpt, out)
    return model


def run_tool(*args):
    proc = subprocess.run([sys.executable, str(TOOL), *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def pp_export(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('export')
    src, dst = tmp / 'epoch_80.pth', tmp / 'student.pth'
    model = distillation_checkpoint(PP_KD, src)
    rc, out = run_tool(src, dst, '--config', PP_BASELINE)
    assert rc == 0, out
    return model, src, dst, out


def test_export_keeps_only_the_student_and_loads_strictly(pp_export):
    model, src, dst, out = pp_export
    assert f'strict load into {PP_BASELINE} OK' in out
    exported = torch.load(dst, map_location='cpu', weights_only=True)
    assert set(exported) == {'meta', 'state_dict'}  # no optimizer, no message hub
    meta = exported['meta']
    assert meta['dataset_meta'] == dict(classes=CLASSES)
    assert meta['epoch'] == 80 and meta['exported_from'] == 'epoch_80.pth'
    assert 'cfg' not in meta and 'seed' not in meta
    sd = exported['state_dict']
    assert not any(k.startswith(('student.', 'teacher.', 'distill_losses.')) for k in sd)
    plain = MODELS.build(Config.fromfile(str(PP_BASELINE)).model)
    assert set(sd) == set(plain.state_dict())
    load_checkpoint(plain, str(dst), map_location='cpu', strict=True)
    reference = model.student.state_dict()
    for k, v in plain.state_dict().items():
        assert torch.equal(v, reference[k]), k
    src_sd = torch.load(src, map_location='cpu', weights_only=False)['state_dict']
    assert len(sd) == sum(k.startswith('student.') for k in src_sd) < len(src_sd)


def test_export_rekeys_spconv_versions_so_second_kernels_are_not_permuted(tmp_path):
    src, dst = tmp_path / 'second_kd.pth', tmp_path / 'second_student.pth'
    model = distillation_checkpoint(SECOND_KD, src)
    rc, out = run_tool(src, dst, '--config', SECOND_BASELINE)
    assert rc == 0, out
    exported = torch.load(dst, map_location='cpu', weights_only=True)
    assert exported['state_dict']._metadata['middle_encoder.conv_input.0'] == {'version': 2}
    plain = MODELS.build(Config.fromfile(str(SECOND_BASELINE)).model)
    load_checkpoint(plain, str(dst), map_location='cpu', strict=True)
    key = 'middle_encoder.encoder_layers.encoder_layer3.1.0.weight'  # SubMConv3d(16, 16)
    assert plain.state_dict()[key].shape == (16, 3, 3, 3, 16)
    for k, v in plain.state_dict().items():
        assert torch.equal(v, model.student.state_dict()[k]), k
    # without the re-keyed module versions spconv takes the kernels for the spconv-1 layout
    # (D, H, W, in, out) and permutes them, which cannot load
    bare = OrderedDict(exported['state_dict'])  # a copy without _metadata
    other = MODELS.build(Config.fromfile(str(SECOND_BASELINE)).model)
    with pytest.raises(RuntimeError, match=f'size mismatch for {key}'):
        other.load_state_dict(bare, strict=True)


def test_export_errors(pp_export, tmp_path):
    """The module behind the CLI (the CLI itself runs in pp_export): each error names the
    file and what is wrong, and nothing is written."""
    _, src, dst, _ = pp_export
    out_file = tmp_path / 'x.pth'
    with pytest.raises(ExportError, match=f'input checkpoint {tmp_path / "missing.pth"} does '
                                          f'not exist'):
        export_student(str(tmp_path / 'missing.pth'), str(out_file))
    with pytest.raises(ExportError) as err:  # a plain student checkpoint
        export_student(str(dst), str(out_file))
    msg = str(err.value)
    assert 'is not a PointDistiller checkpoint' in msg and "'student.*'" in msg
    assert "top-level prefixes: ['backbone', 'bbox_head', 'neck', 'voxel_encoder']" in msg
    with pytest.raises(ExportError) as err:
        export_student(str(src), str(out_file), str(SECOND_BASELINE))
    assert f'do not load strictly into {SECOND_BASELINE}' in str(err.value)
    assert 'Missing key' in str(err.value)
    assert not out_file.exists()


QUICKSTART = REPO / 'configs/quickstart/pointpillars_hv_secfpn_1xb1-4it_kitti-mini-3d-3class.py'


def _mim(*args, cwd=REPO):
    env = dict(os.environ, PD_KITTI_MINI=f'{MINI}/')
    proc = subprocess.run([str(MIM), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def _student_on_mini_config(tmp_path):
    data_root = f'{MINI}/'
    test_cfg = tmp_path / 'student_on_mini.py'
    test_cfg.write_text(f"""_base_ = [{str(PP_BASELINE)!r}]
data_root = {data_root!r}
test_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file='kitti_infos_train.pkl',
                 data_prefix=dict(pts='training/velodyne_reduced')))
test_evaluator = dict(ann_file=data_root + 'kitti_infos_train.pkl')
""")
    return test_cfg


def _assert_clean_mim_test(out, ckpt):
    assert f'Load checkpoint from {ckpt}' in out
    assert 'do not match exactly' not in out  # strict-clean load
    assert 'Kitti metric/pred_instances_3d/KITTI/Overall_3D_AP40_moderate' in out


def test_exported_student_runs_under_mim_test(pp_export, tmp_path):
    assert MINI.is_dir(), f'mini KITTI set not found at {MINI}'
    _, _, dst, _ = pp_export
    out = _mim('test', 'mmdet3d', _student_on_mini_config(tmp_path), '--checkpoint', dst,
               '--work-dir', tmp_path / 'work')
    _assert_clean_mim_test(out, dst)


@pytest.mark.slow
def test_mim_train_distill_then_export_and_mim_test(tmp_path):
    """Real runner (~2.5 min on 2 CPU cores): mim train the PP-4x distiller on the mini
    set, check the saved teacher, export, mim test the plain student."""
    assert MINI.is_dir() and QUICKSTART.is_file(), f'mini KITTI set ({MINI}) or {QUICKSTART}'
    kd = Config.fromfile(str(PP_KD))
    teacher_cfg = load_teacher_config(kd.model.teacher)
    teacher_ckpt = tmp_path / 'teacher.pth'
    teacher_state = MODELS.build(teacher_cfg).state_dict()
    torch.save({'state_dict': teacher_state}, teacher_ckpt)
    model = kd.model.to_dict()
    model['teacher_ckpt'] = str(teacher_ckpt)
    # the quickstart's data/schedule (mmdet3d's one-frame KITTI set) with the KD model
    train_cfg = tmp_path / 'kd_on_mini.py'
    train_cfg.write_text(f"_base_ = [{str(QUICKSTART)!r}]\nmodel = {model!r}\n"
                         "model['_delete_'] = True\n")
    work = tmp_path / 'work'
    out = _mim('train', 'mmdet3d', train_cfg, '--work-dir', work, '--cfg-options',
               'train_cfg.max_epochs=1')
    assert 'loss_pd_pfn' in out and 'PointDistillerDetector: loaded teacher' in out
    ckpt = torch.load(work / 'epoch_1.pth', map_location='cpu', weights_only=False)
    assert ckpt['meta']['iter'] == 2
    # the runner's init_weights and two optimizer steps left the teacher bit-identical
    for k, v in teacher_state.items():
        assert torch.equal(ckpt['state_dict'][f'teacher.{k}'], v), k

    student = tmp_path / 'student.pth'
    rc, log = run_tool(work / 'epoch_1.pth', student, '--config', PP_BASELINE)
    assert rc == 0, log
    out = _mim('test', 'mmdet3d', _student_on_mini_config(tmp_path), '--checkpoint', student,
               '--work-dir', tmp_path / 'test_work')
    _assert_clean_mim_test(out, student)


def test_sub_state_dict_rekeys_weights_and_module_versions():
    """One owner of the student./teacher. split: weights and ``_metadata`` (spconv's weight
    layout version lives there) re-keyed alike; other parts and prefixes are left out."""
    from collections import OrderedDict

    from mmdet3d_pointdistiller.models.distillers.state_dict import has_part, sub_state_dict
    state = OrderedDict([('student.a.weight', 1), ('teacher.a.weight', 2),
                         ('distill_losses.pfn.w', 3), ('studentx.b', 4)])
    state._metadata = OrderedDict([('', {'version': 0}), ('student', {'version': 1}),
                                   ('student.a', {'version': 2}), ('teacher.a', {'version': 3})])
    student = sub_state_dict(state, 'student')
    assert list(student.items()) == [('a.weight', 1)]
    assert student._metadata == OrderedDict([('', {'version': 1}), ('a', {'version': 2})])
    teacher = sub_state_dict(state, 'teacher')
    assert list(teacher.items()) == [('a.weight', 2)]
    assert teacher._metadata == OrderedDict([('a', {'version': 3})])
    assert has_part(state, 'teacher') and not has_part({'x.y': 1}, 'teacher')
    assert not hasattr(sub_state_dict({'student.a': 1}, 'student'), '_metadata')
