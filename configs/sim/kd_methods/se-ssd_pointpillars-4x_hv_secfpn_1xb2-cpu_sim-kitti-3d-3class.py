# SE-SSD's teacher-student consistency (Zheng et al., CVPR 2021) on the simulated CPU dataset:
# the sim PointDistiller 4x config's teacher, student, data, grid and schedule with the KITTI
# taps and losses (../../_base_/kd_methods/pointpillars_kd_methods.py; choices:
# configs/kd_methods/README.md).
# Used by tools/benchmark_kd_gain.py --methods se-ssd=<this file>.
_base_ = [
    '../pointdistiller-paper_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
    '../../_base_/kd_methods/pointpillars_kd_methods.py',
]

# score_thr 0.1 instead of SE-SSD's 0.3: configs/pointdistiller/README.md, "Simulated dataset"
model = dict(distill_cfg=[
    dict(_base_.kd_se_ssd[0], loss=dict(_base_.kd_se_ssd[0].loss, score_thr=0.1)),
])
