# CenterPoint (pillars) 16x student on the simulated KITTI-format dataset, student-only baseline
# and deployment config of the distilled 16x sim CenterPoint student: the sim CenterPoint teacher
# with every channel width divided by sqrt(16) = 4 (the rule of the PointPillars students):
# pillar encoder 64 -> 16, backbone [64, 128, 256] -> [16, 32, 64], neck 3 x 128 -> 3 x 32,
# head input 384 -> 96, shared conv and task-head convs 64 -> 16.
_base_ = ['./centerpoint_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-3class.py']

model = dict(
    pts_voxel_encoder=dict(feat_channels=[16]),
    pts_middle_encoder=dict(in_channels=16),
    pts_backbone=dict(in_channels=16, out_channels=[16, 32, 64]),
    pts_neck=dict(in_channels=[16, 32, 64], out_channels=[32, 32, 32]),
    pts_bbox_head=dict(in_channels=96, share_conv_channel=16,
                       separate_head=dict(head_conv=16)))
