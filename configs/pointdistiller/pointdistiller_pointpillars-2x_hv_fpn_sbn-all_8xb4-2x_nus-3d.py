# PointDistiller, nuScenes: PointPillars FPN teacher (stock mmdet3d) -> 2x student.
# Train, export (epoch_24.pth), test: README.md "Usage".
# Student-only baseline and deployment config:
#   configs/pointpillars/pointpillars-2x_hv_fpn_sbn-all_8xb4-2x_nus-3d.py
# Default teacher side of the BEV-tap families, design (a): the teacher-side adapter (1x1 conv +
# BN + ReLU) frozen at its random initialisation, so the loss cannot reach a trivial zero (the
# best BEV-tap arm of the design tuning, `bev-frozen`: benchmarks/kd_design_sim_tuning.md,
# amendment 4). The paper's design and numbers:
# `pointdistiller-paper_pointpillars-2x_hv_fpn_sbn-all_8xb4-2x_nus-3d`.
_base_ = [
    '../_base_/students/pointpillars-2x_hv_fpn_sbn-all_8xb4-2x_nus-3d.py',
    '../_base_/distill/pointdistiller_pointpillars_nus-3d.py',  # teacher, tap and KD defaults
]

model = dict(
    _base_.pd_distiller,
    _delete_=True,
    student=_base_.model,
    distill_cfg=[dict(_base_.pd_tap, loss=dict(_base_.pd_loss, student_channels=182,
                                               teacher_adapter_trainable=False))])
