# nuScenes CenterPoint (pillars, circle NMS) 16x student: every channel width of mmdet3d's pillar
# CenterPoint divided by sqrt(16) = 4, the rule of the PointPillars students: pillar encoder
# 64 -> 16, SECOND backbone [64, 128, 256] -> [16, 32, 64], SECONDFPN 3 x 128 -> 3 x 32,
# CenterHead input 384 -> 96, shared conv and task-head convs 64 -> 16.
_base_ = ['mmdet3d::centerpoint/centerpoint_pillar02_second_secfpn_head-circlenms_8xb4-cyclic-20e_nus-3d.py']

model = dict(
    pts_voxel_encoder=dict(feat_channels=[16]),
    pts_middle_encoder=dict(in_channels=16),
    pts_backbone=dict(in_channels=16, out_channels=[16, 32, 64]),
    pts_neck=dict(in_channels=[16, 32, 64], out_channels=[32, 32, 32]),
    pts_bbox_head=dict(in_channels=96, share_conv_channel=16,
                       separate_head=dict(head_conv=16)))
