# Ablation (PointDistiller paper Table 5, row "LD"): local distillation (dynamic kNN graph,
# edge adapters) without reweighting: uniform weights over the top-N pillars, the same
# squared-error form. Paper: moderate mAP BEV 68.7 / 3D 61.2.
# Everything else is the PointDistiller config (N=1000 per sample, K=128, C'=32, weight 2).
_base_ = ['../pointdistiller/pointdistiller-paper_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py']

model = dict(distill_cfg=[
    dict(_base_.model.distill_cfg[0],
         loss=dict(_base_.model.distill_cfg[0].loss, local=True, reweight=False)),
])
