# PointPillars 16x student (KITTI 3-class): every channel width of the stock mmdet3d
# PointPillars divided by sqrt(16) = 4 (PointDistiller, CVPR 2023, Sec. 4.1).
# Paper Table 1: 2.5 GFLOPs, 0.3 M parameters (teacher 34.3 GFLOPs, 4.8 M).
_base_ = ['mmdet3d::pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py']

model = dict(
    voxel_encoder=dict(feat_channels=[16]),  # PillarFeatureNet 64 -> 16
    middle_encoder=dict(in_channels=16),
    backbone=dict(in_channels=16, out_channels=[16, 32, 64]),  # [64, 128, 256]
    neck=dict(in_channels=[16, 32, 64], out_channels=[32, 32, 32]),  # [128, 128, 128]
    bbox_head=dict(in_channels=96, feat_channels=96))  # 384
