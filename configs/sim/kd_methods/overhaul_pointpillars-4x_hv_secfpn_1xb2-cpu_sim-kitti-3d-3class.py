# the feature-distillation overhaul (Heo et al., ICCV 2019) on the simulated CPU dataset: the same sim teacher, student, data, grid and
# schedule as the sim PointDistiller config; taps and losses are the KITTI ones
# (../../_base_/kd_methods/pointpillars_kd_methods.py, choices in configs/kd_methods/README.md).
# Used by tools/benchmark_kd_gain.py --methods overhaul=<this file>.
_base_ = [
    '../pointdistiller_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
    '../../_base_/kd_methods/pointpillars_kd_methods.py',
]

model = dict(distill_cfg=_base_.kd_overhaul)
