# Contrastive Representation Distillation (Tian et al., ICLR 2020) on the simulated CPU dataset:
# the sim PointDistiller 4x config's teacher, student, data, grid and schedule with the KITTI
# taps and losses (../../_base_/kd_methods/pointpillars_kd_methods.py; choices:
# configs/kd_methods/README.md).
# Used by tools/benchmark_kd_gain.py --methods crd=<this file>.
_base_ = [
    '../pointdistiller-paper_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
    '../../_base_/kd_methods/pointpillars_kd_methods.py',
]

model = dict(distill_cfg=_base_.kd_crd)
