# PointPillars 4x student, student-only baseline, on the simulated KITTI-format dataset (CPU
# sizes): the sim teacher config (`pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py`: data,
# range, grid, anchors, schedule) with the channel widths of the KITTI 4x student
# (`configs/_base_/students/pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py`, every width
# divided by sqrt(4) = 2; tests/test_quickstart.py checks that the two stay identical).
# It is also the deployment config of the distilled sim student: a checkpoint exported by
# tools/export_student.py from the PointDistiller sim run loads into it with strict=True.
_base_ = ['./pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py']

model = dict(
    voxel_encoder=dict(feat_channels=[32]),  # PillarFeatureNet 64 -> 32
    middle_encoder=dict(in_channels=32),
    backbone=dict(in_channels=32, out_channels=[32, 64, 128]),  # [64, 128, 256]
    neck=dict(in_channels=[32, 64, 128], out_channels=[64, 64, 64]),  # [128, 128, 128]
    bbox_head=dict(in_channels=192, feat_channels=192))  # 384
