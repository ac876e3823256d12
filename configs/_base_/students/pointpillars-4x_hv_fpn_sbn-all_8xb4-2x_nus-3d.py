# nuScenes PointPillars (FPN) 4x student: every channel width of the stock mmdet3d model divided
# by sqrt(4) = 2: HardVFE [64, 64] -> [32, 32], SECOND backbone [64, 128, 256] -> [32, 64, 128],
# FPN 256 -> 128. The paper reports no FLOPs/params for nuScenes.
_base_ = ['mmdet3d::pointpillars/pointpillars_hv_fpn_sbn-all_8xb4-2x_nus-3d.py']

model = dict(
    pts_voxel_encoder=dict(feat_channels=[32, 32]),
    pts_middle_encoder=dict(in_channels=32),
    pts_backbone=dict(in_channels=32, out_channels=[32, 64, 128]),
    pts_neck=dict(in_channels=[32, 64, 128], out_channels=128),
    pts_bbox_head=dict(in_channels=128, feat_channels=128))
