# PointPillars 4x student (KITTI Car only): the stock mmdet3d Car-only PointPillars with every
# channel width divided by 2. The released PointDistiller code trained a separate Car-only
# PointPillars (teacher and 4x student) for the Car column of its KITTI tables.
_base_ = ['mmdet3d::pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-car.py']

model = dict(
    voxel_encoder=dict(feat_channels=[32]),
    middle_encoder=dict(in_channels=32),
    backbone=dict(in_channels=32, out_channels=[32, 64, 128]),
    neck=dict(in_channels=[32, 64, 128], out_channels=[64, 64, 64]),
    bbox_head=dict(in_channels=192, feat_channels=192))
