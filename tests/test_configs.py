"""Every shipped config builds; student/teacher sizes match the paper's Table 1.

Distillation configs are built with ``teacher_ckpt`` pointing to a checkpoint of a randomly
initialised teacher written here (the real loader and its strict key/shape check run).
"""
import copy
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmdet3d_pointdistiller  # noqa: F401  registers modules, activates shims
from mmdet3d.registry import MODELS
from mmdet3d_pointdistiller.models.distillers import (PointDistillerDetector,
                                                      load_teacher_config)

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / 'configs'
ALL = sorted(p.relative_to(CONFIGS).as_posix() for p in CONFIGS.rglob('*.py'))
KD = [c for c in ALL if c.startswith('pointdistiller/')]
BASELINES = [c for c in ALL
             if c.split('/')[0] in ('pointpillars', 'second', 'point_rcnn', 'centerpoint')]
STUDENT_BASES = [c for c in ALL if c.startswith('_base_/students/')]
# tap + loss only (shared by the KITTI and the sim PointPillars bases; the CenterPoint
# head-distillation tap shared by the nuScenes and sim CenterPoint bases), no teacher
TAP_BASES = ['_base_/distill/pointdistiller_pointpillars_tap.py',
             '_base_/distill/centerhead_kd.py']
DISTILL_BASES = [c for c in ALL if c.startswith('_base_/distill/') and c not in TAP_BASES]
SIM_KD = [c for c in ALL if c.startswith('sim/') and 'pointdistiller' in c]
QUICKSTART = [c for c in ALL if c.startswith('quickstart/')]

# PointDistiller Table 1: parameters (M) of teacher and students (one decimal).
PAPER_PARAMS = {
    'pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py': 1.3,
    'pointpillars-16x_hv_secfpn_8xb6-160e_kitti-3d-3class.py': 0.3,
    'pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-car.py': 1.3,  # Car-only PP 4x (same net)
    'second-4x_hv_secfpn_8xb6-80e_kitti-3d-3class.py': 1.4,
    'second-16x_hv_secfpn_8xb6-80e_kitti-3d-3class.py': 0.4,
    'point-rcnn-8x_8xb2_kitti-3d-3class.py': 0.5,
    'point-rcnn-16x_8xb2_kitti-3d-3class.py': 0.3,
}
PAPER_TEACHER_PARAMS = {
    'mmdet3d::pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py': 4.8,
    'mmdet3d::pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-car.py': 4.8,
    'mmdet3d::second/second_hv_secfpn_8xb6-80e_kitti-3d-3class.py': 5.3,
    'mmdet3d::point_rcnn/point-rcnn_8xb2_kitti-3d-3class.py': 4.1,
}
# nuScenes: no sizes in the paper; the students divide widths by ~sqrt(ratio)
# (CenterPoint: measured 3.97x and 15.6x fewer parameters than mmdet3d's pillar CenterPoint)
NUS_RATIO = {'pointpillars-2x_hv_fpn_sbn-all_8xb4-2x_nus-3d.py': 2,
             'pointpillars-4x_hv_fpn_sbn-all_8xb4-2x_nus-3d.py': 4,
             'centerpoint-4x_pillar02_second_secfpn_head-circlenms_8xb4-cyclic-20e_nus-3d.py': 4,
             'centerpoint-16x_pillar02_second_secfpn_head-circlenms_8xb4-cyclic-20e_nus-3d.py': 16}
KD_KEYS = {'teacher_channels', 'student_channels', 'adapter_channels', 'num_queries',
           'num_neighbors', 'feature_layout', 'score', 'temperature', 'reweight', 'local',
           'pool', 'loss_weight'}

init_default_scope('mmdet3d')


def n_params(module, trained_only: bool = False) -> float:
    """Parameters in millions (``trained_only``: those with ``requires_grad``)."""
    return sum(p.numel() for p in module.parameters()
               if p.requires_grad or not trained_only) / 1e6


def matches_table(count: float, paper: float) -> bool:
    """Within 10 % of the paper, or equal at the paper's one-decimal precision."""
    return abs(count - paper) <= 0.10 * paper or round(count, 1) == paper


@pytest.fixture(scope='module')
def teacher_ckpts(tmp_path_factory):
    """cfg_path -> (checkpoint path, teacher parameter count), built lazily."""
    root = tmp_path_factory.mktemp('teachers')
    cache = {}

    def get(cfg_path):
        if cfg_path not in cache:
            teacher = MODELS.build(load_teacher_config(dict(cfg_path=cfg_path)))
            path = root / (Path(cfg_path.split('::')[-1]).stem + '.pth')
            torch.save({'state_dict': teacher.state_dict()}, path)
            cache[cfg_path] = (str(path), n_params(teacher))
        return cache[cfg_path]

    return get


def _student_stem(kd: str) -> str:
    """``pointdistiller[-paper]_<student config>`` -> ``<student config>``."""
    return re.sub(r'^pointdistiller(-paper)?_', '', kd.split('/', 1)[1])


def test_config_inventory():
    # 11 default KD configs + the paper's design of each paper setting (PointPillars KITTI 4x /
    # 16x, PointRCNN 8x / 16x, SECOND 4x / 16x, nuScenes PointPillars 2x / 4x)
    assert len(KD) == 19 and len(BASELINES) == 11 and len(STUDENT_BASES) == 11
    # one per detector family and dataset (the simulated dataset included)
    assert len(DISTILL_BASES) == 7
    # every KD config has its student-only baseline with the same file name stem
    for kd in KD:
        baseline_name = _student_stem(kd)
        assert any(b.endswith('/' + baseline_name) for b in BASELINES), (kd, baseline_name)


@pytest.mark.parametrize('name', DISTILL_BASES)
def test_distill_bases_compose_with_any_student(name):
    """A family's KD base defines no ``model`` (the student base does), so both compose."""
    cfg = Config.fromfile(str(CONFIGS / name))
    assert 'model' not in cfg
    assert cfg.pd_distiller.type == 'PointDistillerDetector'
    assert cfg.pd_distiller.teacher.cfg_path == cfg.teacher_cfg
    assert cfg.pd_loss.type == 'PointDistillerLoss'
    assert KD_KEYS - {'teacher_channels', 'student_channels'} <= set(cfg.pd_loss)
    users = [kd for kd in KD + SIM_KD if Path(name).name in (CONFIGS / kd).read_text()]
    assert users, f'{name} is used by no distillation config'


def test_tap_base_is_shared_and_defines_only_tap_and_loss():
    cfg = Config.fromfile(str(CONFIGS / TAP_BASES[0]))
    assert set(cfg.keys()) == {'pd_tap', 'pd_loss'}
    distill = CONFIGS / '_base_/distill'
    kitti = Config.fromfile(str(distill / 'pointdistiller_pointpillars_kitti-3d-3class.py'))
    sim = Config.fromfile(str(distill / 'pointdistiller_pointpillars_sim-kitti-3d-3class.py'))
    assert kitti.pd_loss == cfg.pd_loss and kitti.pd_tap == sim.pd_tap == cfg.pd_tap
    # the sim loss differs from the KITTI one in N and K only
    assert {k: v for k, v in sim.pd_loss.items() if cfg.pd_loss[k] != v} == dict(
        num_queries=256, num_neighbors=32)


@pytest.mark.parametrize('name', STUDENT_BASES + BASELINES + QUICKSTART)
def test_plain_config_builds(name):
    cfg = Config.fromfile(str(CONFIGS / name))
    if not name.startswith('_base_/'):
        assert cfg.default_scope == 'mmdet3d'
        assert cfg.custom_imports == dict(imports=['mmdet3d_pointdistiller'],
                                          allow_failed_imports=False)
    stem = Path(name).name
    if name.startswith(('pointpillars/', 'second/', 'point_rcnn/', 'centerpoint/')):
        base = Config.fromfile(str(CONFIGS / '_base_/students' / stem))
        assert cfg.model == base.model  # the baseline is exactly the student
    model = MODELS.build(cfg.model)
    assert model.data_preprocessor is not None
    if stem in PAPER_PARAMS and stem != 'second-16x_hv_secfpn_8xb6-80e_kitti-3d-3class.py':
        assert matches_table(n_params(model), PAPER_PARAMS[stem]), (stem, n_params(model))


@pytest.mark.parametrize('name', KD)
def test_distillation_config_builds(name, teacher_ckpts):
    cfg = Config.fromfile(str(CONFIGS / name))
    assert cfg.default_scope == 'mmdet3d'
    assert cfg.custom_imports.imports == ['mmdet3d_pointdistiller']
    assert cfg.model.type == 'PointDistillerDetector' and cfg.model.distill
    assert cfg.model.teacher_ckpt.startswith('checkpoints/')
    for tap in cfg.model.distill_cfg:
        assert KD_KEYS <= set(tap.loss), f'{name}: KD hyper-parameters must all be explicit'
        assert tap.loss.loss_weight == 2.0
    # the config dumped to the work dir (pretty_text) keeps every KD setting
    dumped = Config.fromstring(cfg.pretty_text, file_format='.py')
    assert dumped.model.to_dict() == cfg.model.to_dict()
    ckpt, teacher_params = teacher_ckpts(cfg.model.teacher.cfg_path)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.teacher_ckpt = ckpt
    model = MODELS.build(model_cfg)
    assert isinstance(model, PointDistillerDetector)
    assert set(model.distill_losses) == {t.name for t in cfg.model.distill_cfg}

    student_stem = _student_stem(name)
    student = n_params(model.student)
    # trained adapter parameters (design (c)'s fixed teacher-side identity is not trained)
    adapters = n_params(model.distill_losses, trained_only=True)
    if student_stem in PAPER_PARAMS:
        paper = PAPER_PARAMS[student_stem]
        if student_stem.startswith('second-16x'):
            # The released SECOND-16x widths give 0.341 M (0.3 at one decimal, 15 % below
            # the paper's 0.4 M); the released code kept its KD adapters inside the student
            # detector, and student + both adapters (0.372 M; the default freezes the teacher
            # side's, which keeps its parameters) matches Table 1.
            both = n_params(model.distill_losses)
            assert round(student, 1) == 0.3
            assert matches_table(student + both, paper), (student, both)
        else:
            assert matches_table(student, paper), (name, student)
        teacher_paper = PAPER_TEACHER_PARAMS[cfg.model.teacher.cfg_path]
        assert abs(teacher_params - teacher_paper) <= 0.10 * teacher_paper
    else:
        ratio = NUS_RATIO[student_stem]
        assert abs(student / teacher_params - 1 / ratio) <= 0.1 / ratio, student
    assert adapters < 0.15 * student  # adapters are small next to the student


def test_one_config_loader_for_mmdet3d_names_and_files(tmp_path):
    """utils.load_config: the loader of teacher.cfg_path, the deploy table and the tools."""
    from mmdet3d_pointdistiller.utils import load_config
    stock = load_config('mmdet3d::pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py')
    assert stock.model.type == 'VoxelNet'
    ours = load_config('configs/centerpoint/centerpoint-16x_pillar02_second_secfpn_head-'
                       'circlenms_8xb4-cyclic-20e_nus-3d.py', root=REPO)
    assert ours.model.pts_bbox_head.share_conv_channel == 16
    with pytest.raises(FileNotFoundError,
                       match=r"teacher.cfg_path='nope.py' is not a file \(.*nope.py\)"):
        load_config('nope.py', root=tmp_path, key='teacher.cfg_path')
    with pytest.raises(FileNotFoundError, match=r"teacher.cfg_path='nope.py'"):
        load_teacher_config(dict(cfg_path='nope.py'))


DEFAULTS = [c for c in KD + SIM_KD if Path(c).name.startswith('pointdistiller_')]


@pytest.mark.parametrize('name', DEFAULTS)
def test_default_teacher_side_cannot_collapse(name):
    """Every default PointDistiller config (``pointdistiller_*``, KITTI, nuScenes and sim) has a
    teacher side that the imitation loss cannot train: design (c)'s parameter-free target at
    per-pillar and per-point taps, a frozen teacher adapter at BEV taps
    (benchmarks/protocols/kd_design_sim_tuning.md, rule 4 and amendment 4). The paper's design,
    two trainable adapters with a trivial zero, lives in ``pointdistiller-paper_*`` and
    ``pointdistiller-release_*`` only."""
    cfg = Config.fromfile(str(CONFIGS / name))
    taps = [t for t in cfg.model.distill_cfg if t.loss.type == 'PointDistillerLoss']
    assert taps, name
    for tap in taps:
        loss = tap.loss
        if loss.get('feature_layout') == 'bev':
            assert loss.get('teacher_adapter_trainable') is False, (name, tap.name)
        else:
            assert loss.get('teacher_projection') == 'edge', (name, tap.name)
            assert loss.get('act_cfg', 'relu') is None, (name, tap.name)
            assert loss.adapter_channels == 2 * loss.teacher_channels, (name, tap.name)
