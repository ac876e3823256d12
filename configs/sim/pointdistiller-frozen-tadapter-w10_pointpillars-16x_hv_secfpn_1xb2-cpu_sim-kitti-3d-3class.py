# Tuning arm of benchmarks/kd_gain_sim_tuning (tuning seeds only): the frozen teacher adapter with
# the imitation loss weighted 10 instead of 2. Why: configs/pointdistiller/README.md, "Simulated
# dataset (configs/sim)".
_base_ = ['./pointdistiller-frozen-tadapter_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py']

_pfn = _base_.model.distill_cfg[0]
_pfn.loss.loss_weight = 10.0
model = dict(distill_cfg=[_pfn])
