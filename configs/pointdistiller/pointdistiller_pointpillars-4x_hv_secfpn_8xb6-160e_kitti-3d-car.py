# PointDistiller: PointPillars (teacher, stock mmdet3d) -> PointPillars 4x student, KITTI Car.
# The released code trained a separate Car-only PointPillars (teacher and 4x student) for the
# Car column of Tables 1/2 (Car moderate AP BEV / 3D: student w/o KD 88.2 / 75.9, with
# PointDistiller 89.0 / 76.9, teacher 88.1 / 75.9); the paper does not mention it.
#
# Train:  mim train mmdet3d configs/pointdistiller/<this file> \
#             --cfg-options model.teacher_ckpt=checkpoints/<teacher>.pth
# Export: python tools/export_student.py work_dirs/<this>/epoch_80.pth student.pth
# Test:   mim test mmdet3d \
#             configs/pointpillars/pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-car.py \
#             --checkpoint student.pth
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
    distill_cfg=[dict(_base_.pd_tap, loss=_base_.pd_loss)])
