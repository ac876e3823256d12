# Attention-guided + non-local distillation (Zhang & Ma, ICLR 2021) on the KITTI 3-class
# PointPillars 4x student. Paper Table 3 "+ Zhang et al.": moderate mAP BEV 67.5 / 3D 60.2.
# Attention-masked feature loss, attention-mask loss and non-local relation loss on SECONDFPN.
# Same teacher, checkpoint, student, data and schedule as the PointDistiller config; the taps
# and losses are in ../_base_/kd_methods/pointpillars_kd_methods.py
# (shared with other grids); every adaptation choice: configs/kd_methods/README.md.
_base_ = [
    '../pointdistiller/pointdistiller-paper_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py',
    '../_base_/kd_methods/pointpillars_kd_methods.py',
]

model = dict(distill_cfg=_base_.kd_attention_nonlocal)
