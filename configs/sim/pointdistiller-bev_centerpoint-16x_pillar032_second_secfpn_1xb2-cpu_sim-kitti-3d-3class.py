# PointDistiller at BEV taps of the 16x sim CenterPoint student: backbone stages 0 and 1
# (teacher 64 / 128 channels, student 16 / 32), selected and reweighted by the teacher's
# channel-max (`pd_bev_loss` of the sim PointPillars BEV variants), C' = the student width.
# With the default teacher side of the BEV-tap families, design (a) (bev-frozen:
# benchmarks/kd_design_sim_tuning.md, amendment 4).
_base_ = ['./pointdistiller_centerpoint-16x_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-3class.py']

model = dict(distill_cfg=[
    dict(_base_.pd_bev_taps[0],
         loss=dict(_base_.pd_bev_loss, teacher_channels=64, student_channels=16,
                   adapter_channels=16,
                   teacher_adapter_trainable=False)),
    dict(_base_.pd_bev_taps[1],
         loss=dict(_base_.pd_bev_loss, teacher_channels=128, student_channels=32,
                   adapter_channels=32,
                   teacher_adapter_trainable=False)),
])
