# PointDistiller, KITTI Car: PointPillars Car teacher (stock mmdet3d) -> PointPillars 4x student.
# Train, export (epoch_80.pth), test: README.md "Usage".
# Student-only baseline and deployment config:
#   configs/pointpillars/pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-car.py
# Design (c), the default teacher side: no teacher adapter; the student adapter (1x1 conv + BN,
# no ReLU) regresses the teacher's parameter-free edge features cat(x_j - x_i, x_i), standardised
# by a BatchNorm without affine parameters (chosen on the simulated dataset:
# benchmarks/kd_design_sim_tuning.md); C' = 2 x the teacher width (the edge feature's).
_base_ = [
    '../_base_/students/pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-car.py',
    '../_base_/distill/pointdistiller_pointpillars_kitti-3d-3class.py',  # teacher, tap and KD defaults
]

# Teacher weights: the mmdet3d 1.x model zoo checkpoint of the stock Car config (KITTI Car
# moderate 3D AP 77.6), download
# https://download.openmmlab.com/mmdetection3d/v1.0.0_models/pointpillars/hv_pointpillars_secfpn_6x8_160e_kitti-3d-car/hv_pointpillars_secfpn_6x8_160e_kitti-3d-car_20220331_134606-d42d15ed.pth
# into checkpoints/ or override with --cfg-options model.teacher_ckpt=...
teacher_ckpt = 'checkpoints/hv_pointpillars_secfpn_6x8_160e_kitti-3d-car_20220331_134606-d42d15ed.pth'  # noqa: E501
teacher_cfg = 'mmdet3d::pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-car.py'

model = dict(
    _base_.pd_distiller,
    _delete_=True,
    student=_base_.model,
    teacher=dict(cfg_path=teacher_cfg),
    teacher_ckpt=teacher_ckpt,
    distill_cfg=[dict(_base_.pd_tap,
                      loss=dict(_base_.pd_loss, adapter_channels=128,
                                teacher_projection='edge', act_cfg=None))])
