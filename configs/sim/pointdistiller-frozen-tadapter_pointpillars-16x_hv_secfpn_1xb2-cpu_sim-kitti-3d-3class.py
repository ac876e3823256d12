# The 16x sim PointDistiller run with the teacher-side adapter gamma_T frozen at its random
# initialisation (`PointDistillerLoss(teacher_adapter_trainable=False)`; arm "frozen" of
# benchmarks/kd_gain_sim). Why: configs/pointdistiller/README.md, "Options that change the method".
_base_ = ['./pointdistiller-paper_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py']

_pfn = _base_.model.distill_cfg[0]
_pfn.loss.teacher_adapter_trainable = False
model = dict(distill_cfg=[_pfn])
