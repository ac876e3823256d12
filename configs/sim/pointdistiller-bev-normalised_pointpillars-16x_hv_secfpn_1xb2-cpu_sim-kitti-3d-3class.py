# PointDistiller at BEV-level taps of the 16x sim student,
# design (b): teacher side 1x1 conv + BN without affine parameters, no ReLU.
# Taps: backbone stages 0 and 1 (teacher 64 / 128 channels, student 16 / 32), score the
# teacher's channel-max (as the SECOND configs); C' = the student width for (a) and (b).
_base_ = ['./pointdistiller-paper_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py']

model = dict(distill_cfg=[
    dict(name='backbone_0', module='backbone', output=0,
         loss=dict(_base_.pd_bev_loss, teacher_channels=64, student_channels=16,
                   adapter_channels=16,
                   teacher_projection='normalised', act_cfg=None)),
    dict(name='backbone_1', module='backbone', output=1,
         loss=dict(_base_.pd_bev_loss, teacher_channels=128, student_channels=32,
                   adapter_channels=32,
                   teacher_projection='normalised', act_cfg=None)),
])
