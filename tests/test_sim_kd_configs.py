"""The sim-dataset KD-method configs run each method exactly as its KITTI config, on the sim grid.

``configs/sim/kd_methods/<method>_...sim...py`` must differ from the sim PointDistiller config of
the paper's design (``pointdistiller-paper_...``, their base) only in ``model.distill_cfg``, and
that ``distill_cfg`` must be the KITTI method's
(``configs/kd_methods/<method>_...kitti...py``), except the documented changes: SE-SSD's score
threshold (0.1 for the weak short-schedule teacher) and, for the LD/RL ablations, the sim
PointDistiller tap (N=256, K=32) with the ablation's switches.

The 16x twins (``<method>_pointpillars-16x_...sim...py``) differ from the 4x ones only where the
student differs: every ``student_channels`` is the teacher's / 4 (not / 2), the base is the sim
PointDistiller 16x paper config, and ``teacher_fast_pfn=True`` (folded teacher PFN, a speed option).
"""
from pathlib import Path

import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[1]
SIM = REPO / 'configs' / 'sim'
# the paper's design on the sim grid: the base of the KD-method twins and the design variants
SIM_PD = SIM / 'pointdistiller-paper_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py'
KITTI_SUFFIX = '_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py'
SIM_SUFFIX = '_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py'
METHODS = ['fitnets', 'attention-transfer', 'se-ssd', 'similarity-preserving', 'crd', 'overhaul',
           'attention-nonlocal']
ABLATIONS = {'ld-only': (True, False), 'rl-only': (False, True)}


def _without(model: dict, key: str) -> dict:
    return {k: v for k, v in model.items() if k != key}


@pytest.fixture(scope='module')
def sim_pd():
    return Config.fromfile(str(SIM_PD)).model.to_dict()


SIM16_SUFFIX = SIM_SUFFIX.replace('-4x_', '-16x_')


def test_every_kitti_method_and_ablation_has_a_sim_twin():
    kitti = sorted(p.name[:-len(KITTI_SUFFIX)]
                   for p in (REPO / 'configs' / 'kd_methods').glob('*' + KITTI_SUFFIX))
    sim = sorted(p.name[:-len(SIM_SUFFIX)] for p in (SIM / 'kd_methods').glob('*' + SIM_SUFFIX))
    sim16 = sorted(p.name[:-len(SIM16_SUFFIX)]
                   for p in (SIM / 'kd_methods').glob('*' + SIM16_SUFFIX))
    # ld-rl is PointDistiller itself: its sim twin is the sim PointDistiller paper config
    assert sim == sim16 == sorted(set(kitti) - {'ld-rl'}) == sorted(METHODS + list(ABLATIONS))


@pytest.mark.parametrize('method', METHODS + list(ABLATIONS))
def test_sim_16x_twin_changes_only_student_widths(method):
    sim4 = Config.fromfile(str(SIM / 'kd_methods' / (method + SIM_SUFFIX))).model.to_dict()
    sim16 = Config.fromfile(str(SIM / 'kd_methods' / (method + SIM16_SUFFIX))).model.to_dict()
    pd16 = Config.fromfile(str(SIM / ('pointdistiller-paper' + SIM16_SUFFIX))).model.to_dict()
    for model in (sim16, pd16, sim4):  # the sim distillation base turns the fast path on
        assert model.pop('teacher_fast_pfn') is True
    assert _without(sim16, 'distill_cfg') == _without(pd16, 'distill_cfg')
    assert len(sim16['distill_cfg']) == len(sim4['distill_cfg'])
    for tap16, tap4 in zip(sim16['distill_cfg'], sim4['distill_cfg']):
        loss16, loss4 = tap16.pop('loss'), tap4.pop('loss')
        assert tap16 == tap4
        if method in ABLATIONS:  # the sim PointDistiller 16x tap: C' = 16 for both adapters
            assert (loss16.pop('student_channels'), loss16.pop('adapter_channels')) == (16, 16)
            loss4.pop('student_channels'), loss4.pop('adapter_channels')
        elif 'student_channels' in loss4:
            assert loss4['student_channels'] * 2 == loss4['teacher_channels']
            assert loss16.pop('student_channels') * 4 == loss16['teacher_channels']
            loss4.pop('student_channels')
        assert loss16 == loss4


@pytest.mark.parametrize('method', METHODS)
def test_sim_method_config_is_the_kitti_method_on_the_sim_setup(method, sim_pd):
    sim = Config.fromfile(str(SIM / 'kd_methods' / (method + SIM_SUFFIX))).model.to_dict()
    kitti = Config.fromfile(
        str(REPO / 'configs' / 'kd_methods' / (method + KITTI_SUFFIX))).model.to_dict()
    assert _without(sim, 'distill_cfg') == _without(sim_pd, 'distill_cfg')
    expected = kitti['distill_cfg']
    if method == 'se-ssd':
        assert expected[0]['loss']['score_thr'] == 0.3
        expected[0]['loss']['score_thr'] = 0.1
    assert sim['distill_cfg'] == expected


@pytest.mark.parametrize('name', list(ABLATIONS))
def test_sim_ablation_flips_only_the_switches(name, sim_pd):
    sim = Config.fromfile(str(SIM / 'kd_methods' / (name + SIM_SUFFIX))).model.to_dict()
    local, reweight = ABLATIONS[name]
    assert _without(sim, 'distill_cfg') == _without(sim_pd, 'distill_cfg')
    (tap,), (pd_tap,) = sim['distill_cfg'], sim_pd['distill_cfg']
    assert (tap['loss']['local'], tap['loss']['reweight']) == (local, reweight)
    assert _without(tap, 'loss') == _without(pd_tap, 'loss')
    assert (_without(_without(tap['loss'], 'local'), 'reweight')
            == _without(_without(pd_tap['loss'], 'local'), 'reweight'))


@pytest.mark.parametrize('ratio', ['4x', '16x'])
def test_frozen_teacher_adapter_variant_only_sets_the_loss_option(ratio):
    suffix = SIM_SUFFIX.replace('-4x_', f'-{ratio}_')
    sim_pd = Config.fromfile(str(SIM / ('pointdistiller-paper' + suffix))).model.to_dict()
    path = SIM / ('pointdistiller-frozen-tadapter' + suffix)
    cfg = Config.fromfile(str(path))
    model = cfg.model.to_dict()
    assert _without(model, 'distill_cfg') == _without(sim_pd, 'distill_cfg')
    (tap,), (pd_tap,) = model['distill_cfg'], sim_pd['distill_cfg']
    assert tap['loss'].pop('teacher_adapter_trainable') is False
    assert 'teacher_adapter_trainable' not in pd_tap['loss']  # the default (True) there
    assert tap == pd_tap
    # frozen by the loss option, not by an optimizer rule
    assert 'paramwise_cfg' not in cfg.optim_wrapper
    # the sim configs' hooks: precise BN statistics, adapter statistics in the log
    assert [h['type'] for h in cfg.custom_hooks] == ['PreciseBNHook', 'DistillStatsHook']


def test_release_faithful_variant_sets_batch_sampling_tau_and_teacher_bn_only():
    suffix = SIM_SUFFIX.replace('-4x_', '-16x_')
    pd = Config.fromfile(str(SIM / ('pointdistiller-paper' + suffix))).model.to_dict()
    rel = Config.fromfile(str(SIM / ('pointdistiller-release' + suffix))).model.to_dict()
    assert rel.pop('teacher_norm_eval') is False and pd.pop('teacher_norm_eval') is True
    # the folded teacher fast path needs running statistics: off with the train-mode teacher BN
    assert rel.pop('teacher_fast_pfn') is False and pd.pop('teacher_fast_pfn') is True
    (tap,), (pd_tap,) = rel.pop('distill_cfg'), pd.pop('distill_cfg')
    assert rel == pd
    loss = tap.pop('loss')
    pd_loss = pd_tap.pop('loss')
    assert tap == pd_tap
    assert (loss.pop('sampling'), loss.pop('num_queries'), loss.pop('temperature')) == (
        'batch', 2 * pd_loss.pop('num_queries'), 0.01)
    pd_loss.pop('temperature')
    assert loss == pd_loss
