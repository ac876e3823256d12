# PointDistiller: SECOND (teacher, stock mmdet3d) -> SECOND 4x student, KITTI 3-class.
# Paper Table 1/2 (KITTI val, R40, moderate mAP BEV / 3D): student w/o KD 71.0 / 64.7,
# with PointDistiller 73.2 / 66.2, teacher 72.3 / 66.1.
#
# Train:  mim train mmdet3d configs/pointdistiller/<this file> \
#             --cfg-options model.teacher_ckpt=checkpoints/<teacher>.pth
# Export: python tools/export_student.py work_dirs/<this>/epoch_40.pth student.pth
# Test:   mim test mmdet3d \
#             configs/second/second-4x_hv_secfpn_8xb6-80e_kitti-3d-3class.py \
#             --checkpoint student.pth
_base_ = [
    '../_base_/students/second-4x_hv_secfpn_8xb6-80e_kitti-3d-3class.py',
    '../_base_/distill/pointdistiller_second_kitti-3d-3class.py',  # teacher, tap and KD defaults
]

model = dict(
    _base_.pd_distiller,
    _delete_=True,
    student=_base_.model,
    distill_cfg=[
        dict(name='backbone_0', module='backbone', output=0,
             loss=dict(_base_.pd_loss, teacher_channels=128, student_channels=64)),
        dict(name='backbone_1', module='backbone', output=1,
             loss=dict(_base_.pd_loss, teacher_channels=256, student_channels=128)),
    ])
