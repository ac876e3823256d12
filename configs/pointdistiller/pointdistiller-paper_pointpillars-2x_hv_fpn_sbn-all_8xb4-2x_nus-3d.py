# PointDistiller as the paper and the released code define it, nuScenes: PointPillars FPN teacher
# (stock mmdet3d) -> PointPillars 2x student: both adapters trainable 1x1 conv + BN + ReLU. The
# paper's numbers belong to this config (metafile.yml, README). Its loss has a trivial zero (both
# adapters can go silent); the default
# `pointdistiller_pointpillars-2x_hv_fpn_sbn-all_8xb4-2x_nus-3d` freezes the teacher side instead
# (benchmarks/kd_design_sim_tuning.md).
# Student-only baseline and deployment config:
#   configs/pointpillars/pointpillars-2x_hv_fpn_sbn-all_8xb4-2x_nus-3d.py
_base_ = [
    '../_base_/students/pointpillars-2x_hv_fpn_sbn-all_8xb4-2x_nus-3d.py',
    '../_base_/distill/pointdistiller_pointpillars_nus-3d.py',  # teacher, tap and KD defaults
]

model = dict(
    _base_.pd_distiller,
    _delete_=True,
    student=_base_.model,
    distill_cfg=[dict(_base_.pd_tap, loss=dict(_base_.pd_loss, student_channels=182))])
