# nuScenes PointPillars (FPN) 2x student: every channel width of the stock mmdet3d model divided
# by ~sqrt(2) = 1.4 (int(c / 1.4), as the released PointDistiller config
# hv_pointpillars_fpn_nus_student_2x.py): HardVFE [64, 64] -> [45, 45], SECOND backbone
# [64, 128, 256] -> [45, 91, 182], FPN 256 -> 182. The paper reports no FLOPs/params here.
_base_ = ['mmdet3d::pointpillars/pointpillars_hv_fpn_sbn-all_8xb4-2x_nus-3d.py']

model = dict(
    pts_voxel_encoder=dict(feat_channels=[45, 45]),
    pts_middle_encoder=dict(in_channels=45),
    pts_backbone=dict(in_channels=45, out_channels=[45, 91, 182]),
    pts_neck=dict(in_channels=[45, 91, 182], out_channels=182),
    pts_bbox_head=dict(in_channels=182, feat_channels=182))
