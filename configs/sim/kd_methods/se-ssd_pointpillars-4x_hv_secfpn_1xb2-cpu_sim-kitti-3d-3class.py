# SE-SSD's teacher-student consistency (Zheng et al., CVPR 2021) on the simulated CPU dataset: the same sim teacher, student, data, grid and
# schedule as the sim PointDistiller config; taps and losses are the KITTI ones
# (../../_base_/kd_methods/pointpillars_kd_methods.py, choices in configs/kd_methods/README.md).
# Used by tools/benchmark_kd_gain.py --methods se-ssd=<this file>.
_base_ = [
    '../pointdistiller_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
    '../../_base_/kd_methods/pointpillars_kd_methods.py',
]


# The short CPU schedule's teacher is weak: PointPillars' own test threshold (0.1) instead of
# SE-SSD's 0.3, so that some teacher boxes take part in the consistency term.
model = dict(distill_cfg=[
    dict(_base_.kd_se_ssd[0], loss=dict(_base_.kd_se_ssd[0].loss, score_thr=0.1)),
])
