# Similarity-Preserving KD (Tung & Mori, ICCV 2019) on the KITTI 3-class PointPillars 4x
# student. Paper Table 3 "+ Tung et al.": moderate mAP BEV 67.0 / 3D 59.6.
# Gram matrices over the BEV positions of each scene of the last SECOND backbone stage.
# Same teacher, checkpoint, student, data and schedule as the PointDistiller config; the taps
# and losses are in ../_base_/kd_methods/pointpillars_kd_methods.py
# (shared with other grids); every adaptation choice: configs/kd_methods/README.md.
_base_ = [
    '../pointdistiller/pointdistiller-paper_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py',
    '../_base_/kd_methods/pointpillars_kd_methods.py',
]

model = dict(distill_cfg=_base_.kd_similarity_preserving)
