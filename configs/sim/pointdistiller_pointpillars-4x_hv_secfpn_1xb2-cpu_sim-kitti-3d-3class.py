# PointDistiller on the simulated KITTI-format dataset (CPU sizes): the sim model-zoo teacher
# (stock widths) -> the sim PointPillars 4x student. Same data, grid, schedule and student as the
# student-only twin `pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py`; the KD loss is
# the KITTI PointPillars one with N and K scaled to the smaller grid
# (`configs/_base_/distill/pointdistiller_pointpillars_sim-kitti-3d-3class.py`).
#
# Train: mim train mmdet3d configs/sim/<this file>   (teacher: checkpoints/sim/, shipped)
# Export: python tools/export_student.py work_dirs/<this>/iter_<N>.pth student.pth \
#             --config configs/sim/pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py
_base_ = [
    './pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
    '../_base_/distill/pointdistiller_pointpillars_sim-kitti-3d-3class.py',
]

model = dict(
    _base_.pd_distiller,
    _delete_=True,
    student=_base_.model,
    distill_cfg=[dict(_base_.pd_tap, loss=dict(_base_.pd_loss))])
