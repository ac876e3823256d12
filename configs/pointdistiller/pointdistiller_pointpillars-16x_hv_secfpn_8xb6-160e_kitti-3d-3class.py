# PointDistiller: PointPillars (teacher, stock mmdet3d) -> PointPillars 16x student, KITTI 3-class.
# Paper Table 1/2 (KITTI val, R40, moderate mAP BEV / 3D): student w/o KD 61.8 / 53.5,
# with PointDistiller 63.5 / 54.9, teacher 68.3 / 60.3.
#
# Train:  mim train mmdet3d configs/pointdistiller/<this file> \
#             --cfg-options model.teacher_ckpt=checkpoints/<teacher>.pth
# Export: python tools/export_student.py work_dirs/<this>/epoch_80.pth student.pth
# Test:   mim test mmdet3d \
#             configs/pointpillars/pointpillars-16x_hv_secfpn_8xb6-160e_kitti-3d-3class.py \
#             --checkpoint student.pth
_base_ = [
    '../_base_/students/pointpillars-16x_hv_secfpn_8xb6-160e_kitti-3d-3class.py',
    '../_base_/distill/pointdistiller_pointpillars_kitti-3d-3class.py',  # teacher, tap and KD defaults
]

model = dict(
    _base_.pd_distiller,
    _delete_=True,
    student=_base_.model,
    distill_cfg=[
        dict(
            _base_.pd_tap,
            # C' = student width, as the released (commented) code
            loss=dict(_base_.pd_loss, student_channels=16, adapter_channels=16)),
    ])
