# The 16x sim PointDistiller run as the released KITTI PointPillars code does it (arm "release"
# of benchmarks/kd_gain_sim): top-N and kNN over the pillars of the whole batch
# (`sampling='batch'`, N per batch = 2 x 256 for batch 2, neighbours across scenes),
# tau = 0.01 on the integer point counts (a hard arg-max: only the queries with the batch's
# maximum count keep weight), and the teacher's BN in train mode (batch statistics, running
# statistics drifting), as nothing in the released runner calls `teacher.eval()`.
_base_ = ['./pointdistiller_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py']

_pfn = _base_.model.distill_cfg[0]
_pfn.loss.update(sampling='batch', num_queries=512, temperature=0.01)
model = dict(teacher_norm_eval=False, distill_cfg=[_pfn])
