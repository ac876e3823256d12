# The 16x sim PointDistiller run as the released KITTI PointPillars code does it (arm "release"
# of benchmarks/kd_gain_sim): batch-wide top-N / kNN, tau = 0.01, teacher BN in train mode.
# Why: configs/pointdistiller/README.md, "Options that change the method".
_base_ = ['./pointdistiller-paper_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py']

_pfn = _base_.model.distill_cfg[0]
_pfn.loss.update(sampling='batch', num_queries=512, temperature=0.01)  # N per batch = 2 x 256
# (teacher BN in train mode: the folded fast path, which needs running statistics, is off)
model = dict(teacher_norm_eval=False, teacher_fast_pfn=False, distill_cfg=[_pfn])
