# A Comprehensive Overhaul of Feature Distillation (Heo et al., ICCV 2019) on the KITTI 3-class
# PointPillars 4x student. Paper Table 3 "+ Heo et al.": moderate mAP BEV 66.9 / 3D 60.1.
# Pre-ReLU taps (last BatchNorm of each backbone block), teacher margin-ReLU, partial L2.
# Same teacher, checkpoint, student, data and schedule as the PointDistiller config; the taps
# and losses are in ../_base_/kd_methods/pointpillars_kd_methods.py
# (shared with other grids); every adaptation choice: configs/kd_methods/README.md.
_base_ = [
    '../pointdistiller/pointdistiller-paper_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py',
    '../_base_/kd_methods/pointpillars_kd_methods.py',
]

model = dict(distill_cfg=_base_.kd_overhaul)
