# CenterPoint (pillars) 4x student on the simulated KITTI-format dataset, student-only baseline
# and deployment config of the distilled 4x sim CenterPoint student: the sim CenterPoint teacher
# with every channel width divided by sqrt(4) = 2 (the rule of the PointPillars students):
# pillar encoder 64 -> 32, backbone [64, 128, 256] -> [32, 64, 128], neck 3 x 128 -> 3 x 64,
# head input 384 -> 192, shared conv and task-head convs 64 -> 32.
_base_ = ['./centerpoint_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-3class.py']

model = dict(
    pts_voxel_encoder=dict(feat_channels=[32]),
    pts_middle_encoder=dict(in_channels=32),
    pts_backbone=dict(in_channels=32, out_channels=[32, 64, 128]),
    pts_neck=dict(in_channels=[32, 64, 128], out_channels=[64, 64, 64]),
    pts_bbox_head=dict(in_channels=192, share_conv_channel=32,
                       separate_head=dict(head_conv=32)))
