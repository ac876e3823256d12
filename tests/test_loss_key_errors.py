"""A wrong key inside a distillation loss config fails at parse time with a message that names
``distill_cfg[i].loss``, the key and the closest valid one, for every KD loss the configs use
(not the bare ``TypeError: __init__() got an unexpected keyword argument`` of the build)."""
import copy
from pathlib import Path

import pytest
from mmengine.config import Config

import mmdet3d_pointdistiller  # noqa: F401  registers modules
from mmdet3d_pointdistiller.models.distillers.tap import parse_distill_cfg

REPO = Path(__file__).resolve().parents[1]
SUFFIX = '_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py'
CONFIGS = ['pointdistiller'] + ['kd_methods/' + m for m in (
    'fitnets', 'attention-transfer', 'similarity-preserving', 'crd', 'overhaul',
    'attention-nonlocal', 'se-ssd')]


def taps_of(name):
    return Config.fromfile(str(REPO / 'configs' / 'sim' / (name + SUFFIX))).model.distill_cfg


def misspell(key):
    """A plausible typo: the last two letters swapped (``num_queries`` -> ``num_querise``)."""
    return key[:-2] + key[-1] + key[-2]


@pytest.mark.parametrize('name', CONFIGS)
def test_misspelt_loss_key_names_config_key_and_suggestion(name):
    taps = [t.to_dict() for t in taps_of(name)]
    parse_distill_cfg(copy.deepcopy(taps))  # the shipped config parses
    index = len(taps) - 1
    loss = taps[index]['loss']
    key = next(k for k in sorted(loss) if k != 'type' and len(k) > 4)
    loss[misspell(key)] = loss.pop(key)
    with pytest.raises(KeyError) as err:
        parse_distill_cfg(taps)
    msg = str(err.value)
    assert f'distill_cfg[{index}].loss has unknown key {misspell(key)!r}' in msg
    assert f'(did you mean {key!r}?)' in msg and f"for {loss['type']}" in msg


def test_unregistered_loss_type_and_unrelated_key():
    taps = [t.to_dict() for t in taps_of('pointdistiller')]
    taps[0]['loss']['colour'] = 'red'
    with pytest.raises(KeyError, match=r"unknown key 'colour' for PointDistillerLoss; its "
                                       r"keys: act_cfg, adapter_channels"):
        parse_distill_cfg(copy.deepcopy(taps))
    taps[0]['loss'].pop('colour')
    taps[0]['loss']['type'] = 'PointDistilerLoss'
    with pytest.raises(KeyError, match=r"distill_cfg\[0\].loss.type='PointDistilerLoss' is not "
                                       r"a registered loss"):
        parse_distill_cfg(taps)
