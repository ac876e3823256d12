"""The shipped sim model-zoo teacher: committed, small, loads strictly through the safe loader
into its deployment config and reproduces its recorded mAP on re-simulated val frames."""
import json
from pathlib import Path

import pytest
import torch

import mmdet3d_pointdistiller  # noqa: F401  registers modules, activates shims
from mmdet3d_pointdistiller.compat import safe_torch_load
from mmdet3d_pointdistiller.quickstart.zoo import few_frame_check, sha256_file

REPO = Path(__file__).resolve().parents[1]
RECORD = REPO / 'checkpoints/sim/pointpillars_hv_secfpn_1xb4-3000it_sim-kitti-3d-3class.json'


@pytest.fixture(scope='module')
def record():
    assert RECORD.is_file(), f'{RECORD} is missing'
    return json.loads(RECORD.read_text())


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


def test_reproduces_the_recorded_map_on_resimulated_val_frames(record, tmp_path):
    """Val frames 1500.. of the zoo dataset, simulated and converted again here, tested with
    Runner.test (the mim test path) on the shipped fp16 file: the zoo tool recorded the same
    check when it shipped the file."""
    ref = record['few_frame_check']
    got = few_frame_check(record['deploy_config'], str(REPO / record['checkpoint']),
                          ref['val_start'], ref['num_val'], seed=ref['seed'], threads=1,
                          tmp=str(tmp_path))
    assert got['map_3d'] == pytest.approx(ref['map_3d'], abs=0.05)
    assert got['map_bev'] == pytest.approx(ref['map_bev'], abs=0.05)
    assert got['car_3d_moderate'] == pytest.approx(ref['car_3d_moderate'], abs=0.05)
