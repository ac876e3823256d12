"""The shipped sim model-zoo teachers (both stages): committed, small, load strictly through the
safe loader into their deployment config and reproduce their recorded mAP on re-simulated val
frames; the quickstart, the distillation configs and the KD-gain tool share one teacher."""
import json
from pathlib import Path

import pytest
import torch

import mmdet3d_pointdistiller  # noqa: F401  registers modules, activates shims
from mmdet3d_pointdistiller.compat import safe_torch_load
from mmdet3d_pointdistiller.experiments.zoo import few_frame_checks, sha256_file

REPO = Path(__file__).resolve().parents[1]
RECORDS = sorted((REPO / 'checkpoints' / 'sim').glob('*.json'))


@pytest.fixture(scope='module', params=RECORDS, ids=lambda p: p.stem)
def record(request):
    return json.loads(request.param.read_text())


def test_every_stage_is_shipped_and_one_teacher_is_used_everywhere():
    from mmengine.config import Config

    from mmdet3d_pointdistiller.quickstart import settings
    assert {p.relative_to(REPO).as_posix() for p in RECORDS} >= {settings.ZOO_RECORD}
    assert len(RECORDS) >= 2  # stage 1 stays shipped: the records measured with it name it
    zoo = json.loads((REPO / settings.ZOO_RECORD).read_text())
    assert zoo['checkpoint'] == settings.ZOO_TEACHER
    base = Config.fromfile(
        str(REPO / 'configs/_base_/distill/pointdistiller_pointpillars_sim-kitti-3d-3class.py'))
    assert base.teacher_ckpt == base.pd_distiller.teacher_ckpt == settings.ZOO_TEACHER
    ft = Config.fromfile(str(REPO / settings.TEACHER_FT_CONFIG))
    assert ft.train_cfg.max_iters == settings.TEACHER_FT_ITERS
    assert zoo['config'] == settings.TEACHER_FT_CONFIG and zoo['init_from'] == 'teacher'
    # stage 2 starts from stage 1's final weights, in the work dir tools/train_sim_zoo.py uses
    stage1 = Config.fromfile(str(REPO / settings.TEACHER_TRAIN_CONFIG))
    assert ft.load_from == f'work_dirs/sim_zoo/teacher/iter_{stage1.train_cfg.max_iters}.pth'


def test_shipped_checkpoint_is_the_recorded_file(record):
    ckpt = REPO / record['checkpoint']
    assert ckpt.is_file() and ckpt.stat().st_size <= 20e6
    assert sha256_file(ckpt) == record['sha256']
    # the record's targets and its learning curve are what the zoo table quotes
    assert record['val_frames'] >= 300
    steps = [c['step'] for c in record['learning_curve']]
    assert steps == sorted(steps) and steps[-1] == record['train_iters']


def test_loads_strictly_into_its_config(record):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmdet3d.registry import MODELS
    init_default_scope('mmdet3d')
    state = safe_torch_load(str(REPO / record['checkpoint']), map_location='cpu')['state_dict']
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
    model = MODELS.build(Config.fromfile(str(REPO / record['deploy_config'])).model)
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert next(model.parameters()).dtype == torch.float32
    n = sum(p.numel() for p in model.parameters()) / 1e6
    assert n == pytest.approx(record['params_m'], abs=1e-6)


@pytest.fixture(scope='module')
def few_frame_results(tmp_path_factory):
    """Every shipped record's few-frame check, recomputed: one re-simulated, converted val
    subset per (val_start, num_val, seed) and one evaluation process per subset for all the
    records that name it (the simulator, mmdet3d's converter, the imports and KittiMetric's
    numba compilation are paid once, not per record)."""
    groups = {}
    for path in RECORDS:
        rec = json.loads(path.read_text())
        ref = rec['few_frame_check']
        groups.setdefault((ref['val_start'], ref['num_val'], ref['seed']), []).append(
            (path.stem, rec['deploy_config'], str(REPO / rec['checkpoint'])))
    out = {}
    for key, members in groups.items():
        got = few_frame_checks([(config, ckpt) for _, config, ckpt in members], *key[:2],
                               seed=key[2], threads=1,
                               tmp=str(tmp_path_factory.mktemp('zoo_val')))
        out.update({stem: g for (stem, _, _), g in zip(members, got)})
    return out


@pytest.mark.parametrize('path', RECORDS, ids=lambda p: p.stem)
def test_reproduces_the_recorded_map_on_resimulated_val_frames(path, few_frame_results):
    """Val frames 1500.. of the zoo dataset, simulated and converted again here, tested with
    Runner.test (the mim test path) on the shipped fp16 file: the zoo tool recorded the same
    check when it shipped the file."""
    ref = json.loads(path.read_text())['few_frame_check']
    got = few_frame_results[path.stem]
    assert got['map_3d'] == pytest.approx(ref['map_3d'], abs=0.05)
    assert got['map_bev'] == pytest.approx(ref['map_bev'], abs=0.05)
    assert got['car_3d_moderate'] == pytest.approx(ref['car_3d_moderate'], abs=0.05)


def test_prediction_matching_pairs_boxes_by_label_and_position_not_by_index():
    """fp16 storage may swap two boxes of near-equal score in NMS's output: the check pairs
    them by position (same label), so a swap is no difference, a moved box is, and a changed
    label set is a differing frame."""
    import numpy as np

    from mmdet3d_pointdistiller.experiments.zoo import match_predictions
    boxes = np.array([[0.0, 0, 0, 4, 2, 1.5, 0.1], [10, 5, 0, 0.8, 0.6, 1.7, 1.0],
                      [20, -3, 0, 1.8, 0.6, 1.7, 0.0]])
    a = dict(boxes=boxes, labels=np.array([0, 1, 2]), scores=np.array([0.9, 0.5, 0.5]))
    order = [0, 2, 1]  # the two 0.5-score boxes swapped
    b = dict(boxes=boxes[order] + 1e-3, labels=a['labels'][order], scores=a['scores'][order])
    perm = match_predictions(a, b)
    assert perm.tolist() == [0, 2, 1]
    assert np.abs(a['boxes'] - b['boxes'][perm]).max() == pytest.approx(1e-3)
    # by index the swap would read as a box moved by ~13 m
    assert np.abs(a['boxes'] - b['boxes']).max() > 10
    # same label, two candidates: the nearer one is chosen
    two = dict(boxes=np.array([[0.0, 0, 0, 4, 2, 1.5, 0], [3, 0, 0, 4, 2, 1.5, 0]]),
               labels=np.array([0, 0]), scores=np.array([0.6, 0.6]))
    shifted = dict(two, boxes=two['boxes'][[1, 0]] + [0.2, 0, 0, 0, 0, 0, 0])
    assert match_predictions(two, shifted).tolist() == [1, 0]
    assert match_predictions(a, dict(b, labels=np.array([0, 0, 2]))) is None
    assert match_predictions(a, dict(boxes=boxes[:2], labels=a['labels'][:2],
                                     scores=a['scores'][:2])) is None
    empty = dict(boxes=np.zeros((0, 7)), labels=np.zeros(0, dtype=np.int64), scores=np.zeros(0))
    assert match_predictions(empty, empty).tolist() == []


def test_comparison_reports_a_box_exchanged_at_the_threshold_as_unmatched():
    """Rounded weights can drop one box near the score threshold and admit another of the same
    label far away: same counts, but the pair is no box difference; it is reported apart."""
    import numpy as np

    from mmdet3d_pointdistiller.experiments.zoo import compare_predictions
    boxes = np.array([[0.0, 0, 0, 4, 2, 1.5, 0.1], [37, 11.2, -1.6, 4, 1.6, 1.6, 3.2]])
    a = dict(boxes=boxes, labels=np.array([0, 0]), scores=np.array([0.9, 0.104]))
    b_boxes = boxes.copy()
    b_boxes[0, 0] += 2e-3
    b_boxes[1, :3] = [39.3, -6.8, -1.9]  # another box entered, 18 m away
    b = dict(boxes=b_boxes, labels=a['labels'], scores=np.array([0.9005, 0.1041]))
    got = compare_predictions([a, a], [b, a])
    assert got['max_box_diff'] == pytest.approx(2e-3)
    assert got['max_score_diff'] == pytest.approx(5e-4)
    assert got['unmatched'] == [dict(frame=0, scores=[pytest.approx(0.104),
                                                      pytest.approx(0.1041)])]
    assert got['count_equal'] and got['frames'] == 2 and got['gate_m'] == 0.5
    # a wider gate pairs them and the 18 m reappears as a box difference
    assert compare_predictions([a], [b], gate_m=100)['max_box_diff'] > 17
    fewer = dict(boxes=boxes[:1], labels=a['labels'][:1], scores=a['scores'][:1])
    assert compare_predictions([a], [fewer])['frames_differing'] == [
        dict(frame=0, boxes=[2, 1], min_score=pytest.approx(0.104))]
