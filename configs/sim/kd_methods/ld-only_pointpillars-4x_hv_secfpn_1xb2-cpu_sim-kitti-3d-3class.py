# Ablation (paper Table 5, row "LD") on the simulated CPU dataset: the sim PointDistiller
# config (N=256, K=32) with local=True, reweight=False.
_base_ = ['../pointdistiller-paper_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py']

model = dict(distill_cfg=[
    dict(_base_.model.distill_cfg[0],
         loss=dict(_base_.model.distill_cfg[0].loss, local=True, reweight=False)),
])
