# PointDistiller, KITTI 3-class: PointPillars teacher (stock mmdet3d) -> PointPillars 4x student,
# with the default teacher side, design (c): no teacher adapter; the student adapter (1x1 conv +
# BN, no ReLU) regresses the teacher's parameter-free edge features cat(x_j - x_i, x_i),
# standardised by a BatchNorm without affine parameters, a loss that cannot reach a trivial zero
# (chosen on the simulated dataset: benchmarks/kd_design_sim_tuning.md). The paper's design and
# numbers: `pointdistiller-paper_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class`.
# Train, export (epoch_80.pth), test: README.md "Usage". Student-only baseline and deployment
# config: configs/pointpillars/pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py
_base_ = [
    '../_base_/students/pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py',
    '../_base_/distill/pointdistiller_pointpillars_kitti-3d-3class.py',  # teacher, tap and KD defaults
]

model = dict(
    _base_.pd_distiller,
    _delete_=True,
    student=_base_.model,
    distill_cfg=[dict(_base_.pd_tap,
                      loss=dict(_base_.pd_loss, adapter_channels=128,
                                teacher_projection='edge', act_cfg=None))])
