# The sim model-zoo teacher: PointPillars (stock widths) trained to convergence on the simulated
# KITTI-format dataset on 2 CPU cores. Model, data, range and anchors are those of
# `pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py` (so its checkpoint loads strictly into
# that config and every sim distillation config's teacher); only the schedule differs.
#
# Recipe (measured choices, see configs/sim/README.md):
# * data: python tools/simulate_kitti.py --out data/sim_kitti --num-train 1500 --num-val 300
#   --seed 0 --workers 2 --create-data (5x the frames of the first quickstart, so 8 epochs
#   instead of 20: less over-fitting; a 300-frame val split for low evaluation noise)
# * batch 4 (1.4x the frames/s of batch 2 on 2 cores; batch 8 is slower again), 3000
#   iterations = 12000 samples, AdamW peak lr 0.01 (= the stock cyclic schedule's peak), linear
#   warm-up then cosine to 1e-5; validation and a checkpoint every 750 iterations (the
#   learning curve); 2 torch threads.
# Train: python tools/train_sim_zoo.py teacher   (or: OMP_NUM_THREADS=2 mim train mmdet3d <this>)
_base_ = ['./pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py']

max_iters = 3000
val_interval = 750
warmup_iters = 100
lr = 0.01

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
