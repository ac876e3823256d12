# PointPillars 16x student, student-only baseline, on the simulated KITTI-format dataset (CPU
# sizes): the sim teacher config (data, range, grid, anchors, schedule) with the channel widths
# of the KITTI 16x student (`configs/_base_/students/pointpillars-16x_hv_secfpn_8xb6-160e_kitti-
# 3d-3class.py`, every width divided by sqrt(16) = 4). Deployment config of the distilled 16x
# sim student (tools/export_student.py output loads into it with strict=True).
_base_ = ['./pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py']

model = dict(
    voxel_encoder=dict(feat_channels=[16]),  # PillarFeatureNet 64 -> 16
    middle_encoder=dict(in_channels=16),
    backbone=dict(in_channels=16, out_channels=[16, 32, 64]),  # [64, 128, 256]
    neck=dict(in_channels=[16, 32, 64], out_channels=[32, 32, 32]),  # [128, 128, 128]
    bbox_head=dict(in_channels=96, feat_channels=96))  # 384
