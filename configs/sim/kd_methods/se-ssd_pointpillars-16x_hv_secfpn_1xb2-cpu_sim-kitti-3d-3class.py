# SE-SSD's teacher-student consistency (Zheng et al., CVPR 2021) on the simulated CPU dataset, 16x
# student: the sim PointDistiller 16x config's teacher, student, data, grid and schedule with the
# KITTI taps and losses of ../../_base_/kd_methods/pointpillars_kd_methods.py (choices:
# configs/kd_methods/README.md). Head-level loss (boxes and scores): no channel widths to change
# for the 16x student.
# teacher_fast_pfn: the frozen teacher's last PFNLayer with its BN folded (the same function up to
# rounding, 1.3-1.6x faster 16x KD iterations on CPU: benchmarks/sim_iteration_profile.md).
# Used by tools/benchmark_kd_gain.py --ratio 16x --methods se-ssd=<this file>.
_base_ = [
    '../pointdistiller-paper_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
    '../../_base_/kd_methods/pointpillars_kd_methods.py',
]

# score_thr 0.1 instead of SE-SSD's 0.3: configs/pointdistiller/README.md, "Simulated dataset"
model = dict(
    teacher_fast_pfn=True,
    distill_cfg=[
        dict(_base_.kd_se_ssd[0], loss=dict(_base_.kd_se_ssd[0].loss, score_thr=0.1)),
    ])
