# CenterHead distillation alone on the simulated KITTI-format dataset: the sim CenterPoint
# teacher's heatmaps (soft targets) and peak box maps -> the 16x sim CenterPoint student
# (loss: configs/_base_/distill/pointdistiller_centerpoint_sim-kitti-3d-3class.py, `pd_head_loss`).
_base_ = ['./pointdistiller_centerpoint-16x_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-3class.py']

model = dict(distill_cfg=[dict(_base_.pd_head_tap, loss=_base_.pd_head_loss)])
