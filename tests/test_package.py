"""Importing the package registers its modules; stock configs build via ``mmdet3d::``."""
from pathlib import Path

import torch
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[1]


def test_import_activates_shims_and_registers_into_mmdet3d_scope():
    import mmdet3d_pointdistiller
    from mmdet3d.registry import MODELS
    assert mmdet3d_pointdistiller.__version__ == '0.1.0'
    assert MODELS.scope == 'mmdet3d'
    expected = {'safe_checkpoint_loader', 'kitti_cpu_iou'}
    assert expected <= set(mmdet3d_pointdistiller.compat.ACTIVE)
    # every module of the package is registered where mmdet3d configs look it up
    own = [name for name, cls in MODELS.module_dict.items()
           if cls.__module__.startswith('mmdet3d_pointdistiller')]
    assert 'PointDistillerLoss' in own
    for name in own:
        assert MODELS.get(name).__module__.startswith('mmdet3d_pointdistiller')


def test_quickstart_config_inherits_stock_pointpillars_and_builds():
    import mmdet3d_pointdistiller  # noqa: F401
    from mmdet3d.registry import MODELS
    from mmdet3d.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(
        str(REPO / 'configs/quickstart/pointpillars_hv_secfpn_1xb1-4it_kitti-mini-3d-3class.py'))
    assert cfg.custom_imports == dict(imports=['mmdet3d_pointdistiller'],
                                      allow_failed_imports=False)
    assert cfg.default_scope == 'mmdet3d'
    assert cfg.model.type == 'VoxelNet'  # from the stock mmdet3d base config
    assert cfg.model.voxel_encoder.feat_channels == [64]
    model = MODELS.build(cfg.model)
    n_params = sum(p.numel() for p in model.parameters())
    assert 4.5e6 < n_params < 5.0e6  # stock KITTI PointPillars: 4.8M (paper Tab. 1)
    assert isinstance(model.voxel_encoder, torch.nn.Module)
