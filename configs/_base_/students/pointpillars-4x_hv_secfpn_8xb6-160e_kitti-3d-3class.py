# PointPillars 4x student (KITTI 3-class): the stock mmdet3d PointPillars with every channel
# width divided by sqrt(4) = 2 (PointDistiller, CVPR 2023, Sec. 4.1). Dataset, schedule and
# runtime are the stock ones (the paper keeps mmdet3d's defaults).
# Paper Table 1: 9.0 GFLOPs, 1.3 M parameters (teacher 34.3 GFLOPs, 4.8 M).
_base_ = ['mmdet3d::pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py']

model = dict(
    voxel_encoder=dict(feat_channels=[32]),  # PillarFeatureNet 64 -> 32
    middle_encoder=dict(in_channels=32),
    backbone=dict(in_channels=32, out_channels=[32, 64, 128]),  # [64, 128, 256]
    neck=dict(in_channels=[32, 64, 128], out_channels=[64, 64, 64]),  # [128, 128, 128]
    bbox_head=dict(in_channels=192, feat_channels=192))  # 384
