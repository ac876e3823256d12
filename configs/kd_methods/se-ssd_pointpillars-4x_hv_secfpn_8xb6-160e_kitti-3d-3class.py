# SE-SSD teacher-student consistency (Zheng et al., CVPR 2021) on the KITTI 3-class
# PointPillars 4x student. Paper Table 3 "+ Zheng et al.": moderate mAP BEV 66.9 / 3D 59.9.
# IoU-matched (3D IoU > 0.7) box and class consistency on the teacher head's predictions.
# Same teacher, checkpoint, student, data and schedule as the PointDistiller config; the taps
# and losses are in ../_base_/kd_methods/pointpillars_kd_methods.py
# (shared with other grids); every adaptation choice: configs/kd_methods/README.md.
_base_ = [
    '../pointdistiller/pointdistiller-paper_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py',
    '../_base_/kd_methods/pointpillars_kd_methods.py',
]

model = dict(distill_cfg=_base_.kd_se_ssd)
