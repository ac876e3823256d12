# Ablation (paper Table 5, row "LD") on the simulated CPU dataset, 16x student: the sim
# PointDistiller 16x config (N=256, K=32, C'=16) with local=True, reweight=False.
# teacher_fast_pfn: the frozen teacher's last PFNLayer with its BN folded (the same function up
# to rounding, 1.3-1.6x faster 16x KD iterations on CPU: benchmarks/sim_iteration_profile.md).
_base_ = ['../pointdistiller-paper_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py']

model = dict(
    teacher_fast_pfn=True,
    distill_cfg=[
        dict(_base_.model.distill_cfg[0],
             loss=dict(_base_.model.distill_cfg[0].loss, local=True, reweight=False)),
    ])
