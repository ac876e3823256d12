# FitNets (Romero et al., ICLR 2015) on the simulated CPU dataset, 16x student: the sim
# PointDistiller 16x config's teacher, student, data, grid and schedule with the KITTI taps and
# losses of ../../_base_/kd_methods/pointpillars_kd_methods.py (choices:
# configs/kd_methods/README.md). The 16x student has every width of the teacher / 4 (the base
# file's taps are for the 4x student, / 2), so each tap's student_channels is set here.
# teacher_fast_pfn: the frozen teacher's last PFNLayer with its BN folded (the same function up to
# rounding, 1.3-1.6x faster 16x KD iterations on CPU: benchmarks/sim_iteration_profile.md).
# Used by tools/benchmark_kd_gain.py --ratio 16x --methods fitnets=<this file>.
_base_ = [
    '../pointdistiller-paper_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
    '../../_base_/kd_methods/pointpillars_kd_methods.py',
]

model = dict(
    teacher_fast_pfn=True,
    distill_cfg=[
        dict(_base_.kd_fitnets[0], loss=dict(_base_.kd_fitnets[0].loss, student_channels=96)),
    ])
