# Ablation (PointDistiller paper Table 5, row "RL"): reweighted imitation of the top-N
# pillar features without the graph: adapters C_T -> C' and C_S -> C' on each selected
# pillar, weights N * softmax(points per pillar / tau). Paper: moderate mAP BEV 68.4 / 3D 60.6.
_base_ = ['../pointdistiller/pointdistiller-paper_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py']

model = dict(distill_cfg=[
    dict(_base_.model.distill_cfg[0],
         loss=dict(_base_.model.distill_cfg[0].loss, local=False, reweight=True)),
])
