# "Your own" student for the walk-through in docs/custom_distillation.md: the stock mmdet3d
# PointPillars with every channel width divided by sqrt(2) (rounded to a multiple of 8), a 2x
# student the project does not ship. Any mmdet3d detector config works the same way.
_base_ = ['mmdet3d::pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py']

model = dict(
    voxel_encoder=dict(feat_channels=[48]),  # PillarFeatureNet 64 -> 48
    middle_encoder=dict(in_channels=48),
    backbone=dict(in_channels=48, out_channels=[48, 96, 184]),  # [64, 128, 256]
    neck=dict(in_channels=[48, 96, 184], out_channels=[96, 96, 96]),  # [128, 128, 128]
    bbox_head=dict(in_channels=288, feat_channels=288))  # 384
