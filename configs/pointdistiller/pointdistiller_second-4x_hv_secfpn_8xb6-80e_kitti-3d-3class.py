# PointDistiller, KITTI 3-class: SECOND teacher (stock mmdet3d) -> SECOND 4x student.
# Train, export (epoch_40.pth), test: README.md "Usage".
# Student-only baseline and deployment config:
#   configs/second/second-4x_hv_secfpn_8xb6-80e_kitti-3d-3class.py
# Default teacher side of the BEV-tap families, design (a): the teacher-side adapter (1x1 conv +
# BN + ReLU) frozen at its random initialisation, so the loss cannot reach a trivial zero (the
# best BEV-tap arm of the design tuning, `bev-frozen`: benchmarks/kd_design_sim_tuning.md,
# amendment 4). The paper's design and numbers:
# `pointdistiller-paper_second-4x_hv_secfpn_8xb6-80e_kitti-3d-3class`.
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
             loss=dict(_base_.pd_loss, teacher_channels=128, student_channels=64,
                       teacher_adapter_trainable=False)),
        dict(name='backbone_1', module='backbone', output=1,
             loss=dict(_base_.pd_loss, teacher_channels=256, student_channels=128,
                       teacher_adapter_trainable=False)),
    ])
