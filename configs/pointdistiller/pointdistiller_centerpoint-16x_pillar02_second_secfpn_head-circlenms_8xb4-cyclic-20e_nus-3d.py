# PointDistiller, nuScenes: pillar CenterPoint teacher (stock mmdet3d, circle NMS) -> 16x student.
# Train, export, test: README.md "Usage". Student-only baseline and deployment config:
#   configs/centerpoint/centerpoint-16x_pillar02_second_secfpn_head-circlenms_8xb4-cyclic-20e_nus-3d.py
# Head distillation beside it: add dict(_base_.pd_head_tap, loss=_base_.pd_head_loss) to
# distill_cfg (configs/_base_/distill/pointdistiller_centerpoint_nus-3d.py).
# Design (c), the default teacher side: no teacher adapter; the student adapter (1x1 conv + BN,
# no ReLU) regresses the teacher's parameter-free edge features cat(x_j - x_i, x_i), standardised
# by a BatchNorm without affine parameters (chosen on the simulated dataset:
# benchmarks/kd_design_sim_tuning.md); C' = 2 x the teacher width (the edge feature's).
_base_ = [
    '../_base_/students/centerpoint-16x_pillar02_second_secfpn_head-circlenms_8xb4-cyclic-20e_nus-3d.py',
    '../_base_/distill/pointdistiller_centerpoint_nus-3d.py',  # teacher, tap and KD defaults
]

model = dict(
    _base_.pd_distiller,
    _delete_=True,
    student=_base_.model,
    distill_cfg=[
        dict(_base_.pd_tap,
             loss=dict(_base_.pd_loss, student_channels=16, adapter_channels=128,
                       teacher_projection='edge', act_cfg=None))])
