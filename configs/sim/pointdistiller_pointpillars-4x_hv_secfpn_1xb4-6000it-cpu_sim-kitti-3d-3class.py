# The default PointDistiller (design (c): the student adapter regresses the teacher's
# parameter-free edge features; configs/pointdistiller/README.md "Teacher side") on the 4x sim
# student at the converged-student schedule of the paired-seed benchmark:
# `pointdistiller_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py` with the
# --cfg-options of `tools/benchmark_kd_gain.py --iters 6000 --evals 8 --batch-size 4`, plus
# RealPointsPFNHook (same function, faster CPU iterations). The reporting arm "default" of
# benchmarks/protocols/kd_gain_sim.md; its student-only twin and deployment config:
# `pointpillars-4x_hv_secfpn_1xb4-6000it-cpu_sim-kitti-3d-3class.py`.
# Train: mim train mmdet3d <this> --cfg-options randomness.seed=1
_base_ = ['./pointdistiller_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py']

max_iters = 6000
val_interval = 750
warmup_iters = 50

train_dataloader = dict(batch_size=4)
param_scheduler = [  # a list replaces the base's: both entries in full
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup_iters, end=max_iters,
         T_max=max_iters - warmup_iters, eta_min=_base_.lr * 1e-3),
]
train_cfg = dict(max_iters=max_iters, val_interval=val_interval)
default_hooks = dict(checkpoint=dict(interval=val_interval), logger=dict(interval=10))
log_processor = dict(window_size=10)
custom_hooks = _base_.custom_hooks + [dict(type='RealPointsPFNHook')]
