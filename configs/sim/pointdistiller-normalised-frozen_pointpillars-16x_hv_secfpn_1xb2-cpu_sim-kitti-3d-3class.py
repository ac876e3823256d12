# Design (b), frozen, at the pillar-encoder tap: the teacher side is a fixed random 1x1 conv +
# BatchNorm without affine parameters, no ReLU (nothing on the teacher side is trained); the
# student adapter is 1x1 conv + BN, no ReLU. The trainable-conv variant
# (pointdistiller-normalised_*) collapses to one dimension in training: every teacher-side
# channel copies one direction the student already predicts (benchmarks/kd_design_sim_tuning.md).
_base_ = ['./pointdistiller-paper_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py']

_pfn = _base_.model.distill_cfg[0]
_pfn.loss.update(teacher_projection='normalised', act_cfg=None, teacher_adapter_trainable=False)
model = dict(distill_cfg=[_pfn])
