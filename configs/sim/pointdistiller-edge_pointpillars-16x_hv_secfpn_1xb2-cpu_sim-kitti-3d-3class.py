# Design (c) at the pillar-encoder tap: no teacher adapter; the student adapter (1x1 conv +
# BN, no ReLU) regresses the teacher's parameter-free edge features cat(x_j - x_i, x_i),
# standardised by a BatchNorm without affine parameters
# (2 x 64 channels). Why: configs/pointdistiller/README.md, "Options that change the method".
_base_ = ['./pointdistiller-paper_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py']

_pfn = _base_.model.distill_cfg[0]
_pfn.loss.update(teacher_projection='edge', act_cfg=None, adapter_channels=128)
model = dict(distill_cfg=[_pfn])
