# PointDistiller, KITTI 3-class: SECOND teacher (stock mmdet3d) -> SECOND 4x student.
# Paper numbers: metafile.yml; train, export (epoch_40.pth), test: README.md "Usage".
# Student-only baseline and deployment config:
#   configs/second/second-4x_hv_secfpn_8xb6-80e_kitti-3d-3class.py
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
