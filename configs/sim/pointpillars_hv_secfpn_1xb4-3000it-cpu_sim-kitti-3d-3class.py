# The sim model-zoo teacher: PointPillars (stock widths) trained to convergence on the simulated
# KITTI-format dataset on 2 CPU cores. Model, data, range and anchors are those of
# `pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py` (so its checkpoint loads strictly into
# that config and every sim distillation config's teacher); only the schedule differs.
# Data: python tools/simulate_kitti.py --out data/sim_kitti --num-train 1500 --num-val 300
#       --seed 0 --workers 2 --create-data
# Train: python tools/train_sim_zoo.py teacher   (or: OMP_NUM_THREADS=2 mim train mmdet3d <this>)
# Why this recipe: configs/pointdistiller/README.md, "Simulated dataset (configs/sim)".
_base_ = ['./pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py']

max_iters = 3000  # batch 4: 12000 samples = 8 epochs of 1500 frames
val_interval = 750
warmup_iters = 100
lr = 0.01  # peak; linear warm-up, then cosine to lr * 1e-3 = 1e-5

train_dataloader = dict(batch_size=4)
optim_wrapper = dict(optimizer=dict(lr=lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup_iters, end=max_iters,
         T_max=max_iters - warmup_iters, eta_min=lr * 1e-3),
]
train_cfg = dict(max_iters=max_iters, val_interval=val_interval)
default_hooks = dict(
    checkpoint=dict(interval=val_interval, max_keep_ckpts=4, save_last=True))
randomness = dict(seed=0)
