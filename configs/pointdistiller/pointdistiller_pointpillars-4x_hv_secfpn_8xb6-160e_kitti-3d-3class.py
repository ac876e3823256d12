# PointDistiller: PointPillars (teacher, stock mmdet3d) -> PointPillars 4x student, KITTI 3-class.
# Paper Table 1/2 (KITTI val, R40, moderate mAP BEV / 3D): student w/o KD 66.4 / 58.7,
# with PointDistiller 69.2 / 62.1, teacher 68.3 / 60.3.
#
# Train:  mim train mmdet3d configs/pointdistiller/<this file> \
#             --cfg-options model.teacher_ckpt=checkpoints/<teacher>.pth
# Export: python tools/export_student.py work_dirs/<this>/epoch_80.pth student.pth
# Test:   mim test mmdet3d \
#             configs/pointpillars/pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py \
#             --checkpoint student.pth
_base_ = [
    '../_base_/students/pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py',
    '../_base_/distill/pointdistiller_pointpillars_kitti-3d-3class.py',  # teacher, tap and KD defaults
]

model = dict(
    _base_.pd_distiller,
    _delete_=True,
    student=_base_.model,
    distill_cfg=[dict(_base_.pd_tap, loss=_base_.pd_loss)])
