# PointDistiller on the simulated KITTI-format dataset: the sim CenterPoint teacher -> the
# 16x sim CenterPoint student (`centerpoint-16x_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-
# 3class.py`, its student-only twin and deployment config). Tap: the pillar encoder (points per
# pillar as the score); loss: the sim PointPillars one with the default teacher side, design
# (c) (parameter-free edge features, benchmarks/kd_design_sim_tuning.md), C' = 2 x 64.
_base_ = [
    './centerpoint-16x_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
    '../_base_/distill/pointdistiller_centerpoint_sim-kitti-3d-3class.py',
]

model = dict(
    _base_.pd_distiller,
    _delete_=True,
    student=_base_.model,
    distill_cfg=[
        dict(_base_.pd_tap,
             loss=dict(_base_.pd_loss, student_channels=16, adapter_channels=128,
                       teacher_projection='edge', act_cfg=None))])
