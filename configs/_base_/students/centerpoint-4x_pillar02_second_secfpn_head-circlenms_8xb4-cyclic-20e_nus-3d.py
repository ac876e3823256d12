# nuScenes CenterPoint (pillars, circle NMS) 4x student: every channel width of mmdet3d's pillar
# CenterPoint divided by sqrt(4) = 2, the rule of the PointPillars students: pillar encoder
# 64 -> 32, SECOND backbone [64, 128, 256] -> [32, 64, 128], SECONDFPN 3 x 128 -> 3 x 64,
# CenterHead input 384 -> 192, shared conv and task-head convs 64 -> 32.
_base_ = ['mmdet3d::centerpoint/centerpoint_pillar02_second_secfpn_head-circlenms_8xb4-cyclic-20e_nus-3d.py']

model = dict(
    pts_voxel_encoder=dict(feat_channels=[32]),
    pts_middle_encoder=dict(in_channels=32),
    pts_backbone=dict(in_channels=32, out_channels=[32, 64, 128]),
    pts_neck=dict(in_channels=[32, 64, 128], out_channels=[64, 64, 64]),
    pts_bbox_head=dict(in_channels=192, share_conv_channel=32,
                       separate_head=dict(head_conv=32)))
