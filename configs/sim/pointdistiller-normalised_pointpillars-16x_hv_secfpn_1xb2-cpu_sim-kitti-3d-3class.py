# Design (b) at the pillar-encoder tap: the teacher side is a 1x1 conv + BatchNorm without
# affine parameters and no ReLU (every target channel has zero mean and unit variance over the
# batch's edges, so it cannot be a constant); the student adapter is 1x1 conv + BN, no ReLU.
# Why: configs/pointdistiller/README.md, "Options that change the method".
_base_ = ['./pointdistiller-paper_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py']

_pfn = _base_.model.distill_cfg[0]
_pfn.loss.update(teacher_projection='normalised', act_cfg=None)
model = dict(distill_cfg=[_pfn])
