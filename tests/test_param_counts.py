"""Every shipped config builds the same model as when these values were pinned.

Pinned per config (leaf configs only, ``_base_`` excluded; values from commit 2235fc8, before
the issue-14 restructuring; the 16x sim KD-method twins pinned when they were added): the
parameter count of the whole model (for a distiller: student + adapters + frozen teacher) and
the SHA-1 of its sorted ``state_dict`` keys. A refactoring that moves code must not change
either; a deliberate model change updates ``PINNED`` in the same commit (the failure message
prints the new table).

Distillation configs are built with ``teacher_ckpt`` pointing to a checkpoint of a randomly
initialised teacher (the real loader and its strict key check run), except for configs whose
teacher checkpoint is committed (the sim model zoo), which load it.
"""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Dict, Tuple

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmdet3d_pointdistiller  # noqa: F401  registers modules
from mmdet3d.registry import MODELS
from mmdet3d_pointdistiller.models.distillers import load_teacher_config

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / 'configs'
LEAVES = sorted(p.relative_to(CONFIGS).as_posix() for p in CONFIGS.rglob('*.py')
                if '_base_' not in p.parts)

# config -> (parameter count, sha1 of the sorted state_dict keys)
PINNED: Dict[str, Tuple[int, str]] = {
    'centerpoint/centerpoint-16x_pillar02_second_secfpn_head-circlenms_8xb4-cyclic-20e_nus-3d.py':
        (383702, 'db3f592df353e7de570abb20b74b190f7d45b029'),
    'centerpoint/centerpoint-4x_pillar02_second_secfpn_head-circlenms_8xb4-cyclic-20e_nus-3d.py':
        (1508710, 'db3f592df353e7de570abb20b74b190f7d45b029'),
    'pointdistiller/pointdistiller_centerpoint-16x_pillar02_second_secfpn_head-circlenms_8xb4-cyclic-20e_nus-3d.py':  # noqa: E501
        (6387292, 'c6d7326c0d5fd336fad86a81498e7d8860d1e2d0'),
    'pointdistiller/pointdistiller_centerpoint-4x_pillar02_second_secfpn_head-circlenms_8xb4-cyclic-20e_nus-3d.py':  # noqa: E501
        (7516396, 'c6d7326c0d5fd336fad86a81498e7d8860d1e2d0'),
    'sim/centerhead-kd_centerpoint-16x_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (6075762, '508d23134fc5d3798fd611c89240a476e4cc93e8'),
    'sim/centerpoint-16x_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (362385, 'da337d51abef375c797539259ebd00cc96877551'),
    'sim/centerpoint-4x_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (1435393, 'da337d51abef375c797539259ebd00cc96877551'),
    'sim/centerpoint_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (5713377, 'da337d51abef375c797539259ebd00cc96877551'),
    'sim/pointdistiller-bev_centerpoint-16x_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':  # noqa: E501
        (6088754, '13d672d0b5d94810c972f7da5cfae1949ae85479'),
    'sim/pointdistiller-centerhead-kd_centerpoint-16x_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':  # noqa: E501
        (6096498, '23e99c2293d2352ee98a10e873a7a9884a3f3dcd'),
    'sim/pointdistiller_centerpoint-16x_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (6096498, '23e99c2293d2352ee98a10e873a7a9884a3f3dcd'),
    'sim/pointdistiller_centerpoint-4x_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (7173602, '23e99c2293d2352ee98a10e873a7a9884a3f3dcd'),
    'kd_methods/attention-nonlocal_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py':
        (6570544, 'd27f31cd7128667edbeca8ce93cda860f93d04aa'),
    'kd_methods/attention-transfer_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py':
        (6052240, '7b82e24d92a9bd7af63c2108b0adb0a57ce4c8bc'),
    'kd_methods/crd_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py':
        (6126224, '5f71c4ca99e412d3540d3695b8bc837d7e095e47'),
    'kd_methods/fitnets_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py':
        (6126352, 'abc154b0697dd265c28ef9eb55313729bca7fb13'),
    'kd_methods/ld-only_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py':
        (6058512, '442c29f836df4607f9eccea5556012964c905fdb'),
    'kd_methods/ld-rl_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py':
        (6058512, '442c29f836df4607f9eccea5556012964c905fdb'),
    'kd_methods/overhaul_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py':
        (6096144, '2cf787c74cfd59cced11fa3c28e0ba3d965a1be2'),
    'kd_methods/rl-only_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py':
        (6055440, '442c29f836df4607f9eccea5556012964c905fdb'),
    'kd_methods/se-ssd_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py':
        (6052240, '7b82e24d92a9bd7af63c2108b0adb0a57ce4c8bc'),
    'kd_methods/similarity-preserving_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py':
        (6052240, '7b82e24d92a9bd7af63c2108b0adb0a57ce4c8bc'),
    'point_rcnn/point-rcnn-16x_8xb2_kitti-3d-3class.py':
        (259489, '49f491aff630e91fde077aff269620dc9aa83675'),
    'point_rcnn/point-rcnn-8x_8xb2_kitti-3d-3class.py':
        (517949, '49f491aff630e91fde077aff269620dc9aa83675'),
    'pointdistiller/pointdistiller_point-rcnn-16x_8xb2_kitti-3d-3class.py':
        (4384812, '2518b4f87a61f9c71d54146c9f32816257d93599'),
    'pointdistiller/pointdistiller-paper_point-rcnn-16x_8xb2_kitti-3d-3class.py':
        (4312748, '2d8102012035d64868b32d6691f2969ae93f05f4'),
    'pointdistiller/pointdistiller_point-rcnn-8x_8xb2_kitti-3d-3class.py':
        (4649928, '2518b4f87a61f9c71d54146c9f32816257d93599'),
    'pointdistiller/pointdistiller-paper_point-rcnn-8x_8xb2_kitti-3d-3class.py':
        (4576590, '2d8102012035d64868b32d6691f2969ae93f05f4'),
    'pointdistiller/pointdistiller_pointpillars-16x_hv_secfpn_8xb6-160e_kitti-3d-3class.py':
        (5164304, '5d0dbff21aace7c589e677ce9851f88542aa1036'),
    'pointdistiller/pointdistiller-paper_pointpillars-16x_hv_secfpn_8xb6-160e_kitti-3d-3class.py':  # noqa: E501
        (5146192, '442c29f836df4607f9eccea5556012964c905fdb'),
    'pointdistiller/pointdistiller_pointpillars-2x_hv_fpn_sbn-all_8xb4-2x_nus-3d.py':
        (9318938, 'a67f2fe362e3b8161d7fce6fc97becde8ae83bbc'),
    'pointdistiller/pointdistiller-paper_pointpillars-2x_hv_fpn_sbn-all_8xb4-2x_nus-3d.py':
        (9318938, 'a67f2fe362e3b8161d7fce6fc97becde8ae83bbc'),
    'pointdistiller/pointdistiller_pointpillars-4x_hv_fpn_sbn-all_8xb4-2x_nus-3d.py':
        (7746448, 'a67f2fe362e3b8161d7fce6fc97becde8ae83bbc'),
    'pointdistiller/pointdistiller-paper_pointpillars-4x_hv_fpn_sbn-all_8xb4-2x_nus-3d.py':
        (7746448, 'a67f2fe362e3b8161d7fce6fc97becde8ae83bbc'),
    'pointdistiller/pointdistiller_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py':
        (6077072, '5d0dbff21aace7c589e677ce9851f88542aa1036'),
    'pointdistiller/pointdistiller-paper_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py':  # noqa: E501
        (6058512, '442c29f836df4607f9eccea5556012964c905fdb'),
    'pointdistiller/pointdistiller_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-car.py':
        (6047016, '5d0dbff21aace7c589e677ce9851f88542aa1036'),
    'pointdistiller/pointdistiller_second-16x_hv_secfpn_8xb6-80e_kitti-3d-3class.py':
        (5698000, '69c2b6604493896bb393b76959743862ec078193'),
    'pointdistiller/pointdistiller-paper_second-16x_hv_secfpn_8xb6-80e_kitti-3d-3class.py':
        (5698000, '69c2b6604493896bb393b76959743862ec078193'),
    'pointdistiller/pointdistiller_second-4x_hv_secfpn_8xb6-80e_kitti-3d-3class.py':
        (6705520, '69c2b6604493896bb393b76959743862ec078193'),
    'pointdistiller/pointdistiller-paper_second-4x_hv_secfpn_8xb6-80e_kitti-3d-3class.py':
        (6705520, '69c2b6604493896bb393b76959743862ec078193'),
    'pointpillars/pointpillars-16x_hv_secfpn_8xb6-160e_kitti-3d-3class.py':
        (308680, '418b14dd409edb3fb5829a9cb9eedfa1a5b6d9c9'),
    'pointpillars/pointpillars-2x_hv_fpn_sbn-all_8xb4-2x_nus-3d.py':
        (3115506, '40d99aaf60319b54a038bd237341318e932124df'),
    'pointpillars/pointpillars-4x_hv_fpn_sbn-all_8xb4-2x_nus-3d.py':
        (1549928, '40d99aaf60319b54a038bd237341318e932124df'),
    'pointpillars/pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py':
        (1217352, '418b14dd409edb3fb5829a9cb9eedfa1a5b6d9c9'),
    'pointpillars/pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-car.py':
        (1207316, '418b14dd409edb3fb5829a9cb9eedfa1a5b6d9c9'),
    'quickstart/pointpillars_hv_secfpn_1xb1-4it_kitti-mini-3d-3class.py':
        (4834888, '418b14dd409edb3fb5829a9cb9eedfa1a5b6d9c9'),
    'second/second-16x_hv_secfpn_8xb6-80e_kitti-3d-3class.py':
        (341448, '66519b88d849152ea8bd07ec8ea41622f45210c5'),
    'second/second-4x_hv_secfpn_8xb6-80e_kitti-3d-3class.py':
        (1342824, '66519b88d849152ea8bd07ec8ea41622f45210c5'),
    'sim/kd_methods/attention-nonlocal_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (5532608, 'd27f31cd7128667edbeca8ce93cda860f93d04aa'),
    'sim/kd_methods/attention-transfer_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (5143568, '7b82e24d92a9bd7af63c2108b0adb0a57ce4c8bc'),
    'sim/kd_methods/crd_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (5205264, '5f71c4ca99e412d3540d3695b8bc837d7e095e47'),
    'sim/kd_methods/fitnets_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (5180816, 'abc154b0697dd265c28ef9eb55313729bca7fb13'),
    'sim/kd_methods/ld-only_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (5146192, '442c29f836df4607f9eccea5556012964c905fdb'),
    'sim/kd_methods/overhaul_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (5165968, '2cf787c74cfd59cced11fa3c28e0ba3d965a1be2'),
    'sim/kd_methods/rl-only_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (5144912, '442c29f836df4607f9eccea5556012964c905fdb'),
    'sim/kd_methods/se-ssd_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (5143568, '7b82e24d92a9bd7af63c2108b0adb0a57ce4c8bc'),
    'sim/kd_methods/similarity-preserving_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':  # noqa: E501
        (5143568, '7b82e24d92a9bd7af63c2108b0adb0a57ce4c8bc'),
    'sim/kd_methods/attention-nonlocal_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (6570544, 'd27f31cd7128667edbeca8ce93cda860f93d04aa'),
    'sim/kd_methods/attention-transfer_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (6052240, '7b82e24d92a9bd7af63c2108b0adb0a57ce4c8bc'),
    'sim/kd_methods/crd_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (6126224, '5f71c4ca99e412d3540d3695b8bc837d7e095e47'),
    'sim/kd_methods/fitnets_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (6126352, 'abc154b0697dd265c28ef9eb55313729bca7fb13'),
    'sim/kd_methods/ld-only_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (6058512, '442c29f836df4607f9eccea5556012964c905fdb'),
    'sim/kd_methods/overhaul_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (6096144, '2cf787c74cfd59cced11fa3c28e0ba3d965a1be2'),
    'sim/kd_methods/rl-only_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (6055440, '442c29f836df4607f9eccea5556012964c905fdb'),
    'sim/kd_methods/se-ssd_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (6052240, '7b82e24d92a9bd7af63c2108b0adb0a57ce4c8bc'),
    'sim/kd_methods/similarity-preserving_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':  # noqa: E501
        (6052240, '7b82e24d92a9bd7af63c2108b0adb0a57ce4c8bc'),
    'sim/pointdistiller-bev-edge_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (5246736, '1a9e9011267ae6fb044dc038ab098690e41c1b91'),
    'sim/pointdistiller-bev-frozen_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (5156560, 'ce20a7daf3ba334fa25a1d495b07ed31dbef5905'),
    'sim/pointdistiller-bev-normalised_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (5156464, '1a9e9011267ae6fb044dc038ab098690e41c1b91'),
    'sim/pointdistiller-edge_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (5164304, '5d0dbff21aace7c589e677ce9851f88542aa1036'),
    'sim/pointdistiller-edge-w10_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (5164304, '5d0dbff21aace7c589e677ce9851f88542aa1036'),
    'sim/pointdistiller-normalised_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (5146160, '5d0dbff21aace7c589e677ce9851f88542aa1036'),
    'sim/pointdistiller-bev-normalised-frozen_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':  # noqa: E501
        (5156464, '1a9e9011267ae6fb044dc038ab098690e41c1b91'),
    'sim/pointdistiller-normalised-frozen_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':  # noqa: E501
        (5146160, '5d0dbff21aace7c589e677ce9851f88542aa1036'),
    'sim/pointdistiller-frozen-tadapter-w10_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':  # noqa: E501
        (5146192, '442c29f836df4607f9eccea5556012964c905fdb'),
    'sim/pointdistiller-frozen-tadapter_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (5146192, '442c29f836df4607f9eccea5556012964c905fdb'),
    'sim/pointdistiller-frozen-tadapter_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (6058512, '442c29f836df4607f9eccea5556012964c905fdb'),
    'sim/pointdistiller-release_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (5146192, '442c29f836df4607f9eccea5556012964c905fdb'),
    'sim/pointdistiller-release_pointpillars-16x_hv_secfpn_1xb4-6000it-cpu_sim-kitti-3d-3class.py':  # noqa: E501
        (5146192, '442c29f836df4607f9eccea5556012964c905fdb'),
    'sim/pointdistiller_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (5164304, '5d0dbff21aace7c589e677ce9851f88542aa1036'),
    'sim/pointdistiller_pointpillars-16x_hv_secfpn_1xb4-6000it-cpu_sim-kitti-3d-3class.py':
        (5164304, '5d0dbff21aace7c589e677ce9851f88542aa1036'),
    'sim/pointdistiller-paper_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':  # noqa: E501
        (5146192, '442c29f836df4607f9eccea5556012964c905fdb'),
    'sim/pointdistiller_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (6077072, '5d0dbff21aace7c589e677ce9851f88542aa1036'),
    'sim/pointdistiller_pointpillars-4x_hv_secfpn_1xb4-6000it-cpu_sim-kitti-3d-3class.py':
        (6077072, '5d0dbff21aace7c589e677ce9851f88542aa1036'),
    'sim/pointdistiller-paper_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':  # noqa: E501
        (6058512, '442c29f836df4607f9eccea5556012964c905fdb'),
    'sim/pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (308680, '418b14dd409edb3fb5829a9cb9eedfa1a5b6d9c9'),
    'sim/pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (1217352, '418b14dd409edb3fb5829a9cb9eedfa1a5b6d9c9'),
    'sim/pointpillars-16x_hv_secfpn_1xb4-6000it-cpu_sim-kitti-3d-3class.py':
        (308680, '418b14dd409edb3fb5829a9cb9eedfa1a5b6d9c9'),
    'sim/pointpillars-4x_hv_secfpn_1xb4-6000it-cpu_sim-kitti-3d-3class.py':
        (1217352, '418b14dd409edb3fb5829a9cb9eedfa1a5b6d9c9'),
    'sim/pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py':
        (4834888, '418b14dd409edb3fb5829a9cb9eedfa1a5b6d9c9'),
    'sim/pointpillars_hv_secfpn_1xb4-3000it-cpu_sim-kitti-3d-3class.py':
        (4834888, '418b14dd409edb3fb5829a9cb9eedfa1a5b6d9c9'),
    'sim/pointpillars_hv_secfpn_1xb4-3000it-ft2000it-cpu_sim-kitti-3d-3class.py':
        (4834888, '418b14dd409edb3fb5829a9cb9eedfa1a5b6d9c9'),
}


def fingerprint(model: torch.nn.Module) -> Tuple[int, str]:
    keys = '\n'.join(sorted(model.state_dict()))
    return (sum(p.numel() for p in model.parameters()),
            hashlib.sha1(keys.encode()).hexdigest())


@pytest.fixture(scope='module')
def built(tmp_path_factory) -> Dict[str, Tuple[int, str]]:
    init_default_scope('mmdet3d')
    root = tmp_path_factory.mktemp('teachers')
    teachers: Dict[str, str] = {}
    out = {}
    torch.manual_seed(0)
    for name in LEAVES:
        cfg = Config.fromfile(str(CONFIGS / name))
        model_cfg = copy.deepcopy(cfg.model)
        if 'teacher' in model_cfg:
            shipped = model_cfg.get('teacher_ckpt')
            if not (shipped and (REPO / shipped).is_file()):
                cfg_path = model_cfg.teacher.cfg_path
                if cfg_path not in teachers:
                    teacher = MODELS.build(load_teacher_config(dict(cfg_path=cfg_path)))
                    path = root / f'teacher{len(teachers)}.pth'
                    torch.save({'state_dict': teacher.state_dict()}, path)
                    teachers[cfg_path] = str(path)
                model_cfg.teacher_ckpt = teachers[cfg_path]
            else:
                model_cfg.teacher_ckpt = str(REPO / shipped)
        out[name] = fingerprint(MODELS.build(model_cfg))
    return out


def test_every_leaf_config_is_pinned(built):
    got = {k: list(v) for k, v in built.items()}
    table = json.dumps(got, indent=1)
    assert set(built) == set(PINNED), f'configs added or removed; new table:\n{table}'
    diff = {k: (PINNED[k], built[k]) for k in PINNED if tuple(PINNED[k]) != built[k]}
    assert not diff, f'models changed (pinned, now): {diff}\nnew table:\n{table}'
