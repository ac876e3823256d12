# PointDistiller on the simulated KITTI-format dataset (CPU sizes): the sim model-zoo teacher ->
# the sim PointPillars 16x student (`pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py`,
# its student-only twin). KD settings: the sim PointPillars ones, C' = the student width (16), as
# the KITTI 16x config.
_base_ = [
    './pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
    '../_base_/distill/pointdistiller_pointpillars_sim-kitti-3d-3class.py',
]

model = dict(
    _base_.pd_distiller,
    _delete_=True,
    student=_base_.model,
    distill_cfg=[
        dict(_base_.pd_tap,
             loss=dict(_base_.pd_loss, student_channels=16, adapter_channels=16))])
