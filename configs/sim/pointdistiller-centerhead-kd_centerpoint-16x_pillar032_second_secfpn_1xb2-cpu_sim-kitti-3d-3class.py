# PointDistiller at the pillar encoder and CenterHead distillation together, 16x sim CenterPoint
# student: the two taps of `pointdistiller_centerpoint-16x_...` and `centerhead-kd_centerpoint-
# 16x_...`, each with its own loss key (loss_pd_pfn, loss_pd_centerhead).
_base_ = ['./pointdistiller_centerpoint-16x_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-3class.py']

model = dict(distill_cfg=[
    dict(_base_.pd_tap, loss=dict(_base_.pd_loss, student_channels=16, adapter_channels=128,
                                  teacher_projection='edge', act_cfg=None)),
    dict(_base_.pd_head_tap, loss=_base_.pd_head_loss)])
