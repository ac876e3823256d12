# PointPillars teacher (stock mmdet3d widths) on the simulated KITTI-format dataset, sized for
# CPU training. Everything not overridden here is mmdet3d's stock KITTI 3-class PointPillars
# (model, losses, assigners, augmentation, KittiMetric).
#
# Data: python tools/simulate_kitti.py --out data/sim_kitti --create-data
#       (another root: environment variable PD_SIM_KITTI=/path/to/root/)
# Train: mim train mmdet3d configs/sim/pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py
# Budget: e.g. --cfg-options train_cfg.max_iters=600 train_cfg.val_interval=300
# What changes against KITTI (range, grid, max_voxels, anchors, schedule) and why:
# configs/pointdistiller/README.md, "Simulated dataset (configs/sim)".
_base_ = ['mmdet3d::pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py']

custom_imports = dict(imports=['mmdet3d_pointdistiller'], allow_failed_imports=False)
default_scope = 'mmdet3d'

data_root = '{{$PD_SIM_KITTI:data/sim_kitti/}}'
point_cloud_range = [0, -20.48, -3, 40.96, 20.48, 1]  # x 0..40.96 m, y +-20.48 m
voxel_size = [0.32, 0.32, 4]  # 0.32 m pillars
grid_shape = [128, 128]  # [ny, nx] = range / voxel_size
max_iters = 600
val_interval = 300
warmup_iters = 50
lr = 0.01

db_sampler = dict(
    data_root=data_root,
    info_path=data_root + 'kitti_dbinfos_train.pkl',
)


def _sim_pipeline(pipeline):
    """The stock pipeline with this file's data root and range (nested transforms too)."""
    out = []
    for t in pipeline:
        t = dict(t)
        if t['type'] in ('PointsRangeFilter', 'ObjectRangeFilter'):
            t['point_cloud_range'] = point_cloud_range
        elif t['type'] == 'ObjectSample':
            t['db_sampler'] = dict(t['db_sampler'], **db_sampler)
        if 'transforms' in t:
            t['transforms'] = _sim_pipeline(t['transforms'])
        out.append(t)
    return out


train_pipeline = _sim_pipeline(_base_.train_pipeline)
test_pipeline = _sim_pipeline(_base_.test_pipeline)

model = dict(
    data_preprocessor=dict(
        voxel_layer=dict(
            point_cloud_range=point_cloud_range,
            voxel_size=voxel_size,
            max_voxels=(12000, 20000))),  # ~1500 pillars per sample
    voxel_encoder=dict(voxel_size=voxel_size, point_cloud_range=point_cloud_range),
    middle_encoder=dict(output_shape=grid_shape),
    bbox_head=dict(
        anchor_generator=dict(ranges=[
            [0, -20.48, -0.6, 40.96, 20.48, -0.6],  # Pedestrian
            [0, -20.48, -0.6, 40.96, 20.48, -0.6],  # Cyclist
            [0, -20.48, -1.78, 40.96, 20.48, -1.78],  # Car
        ])))

train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(dataset=dict(data_root=data_root, pipeline=train_pipeline)))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'kitti_infos_val.pkl')
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup_iters, end=max_iters,
         T_max=max_iters - warmup_iters, eta_min=lr * 1e-3),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=val_interval)
default_hooks = dict(
    # validation metrics are logged at the iteration (not the epoch) they were computed at
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=val_interval,
                    max_keep_ckpts=1, save_last=True))
log_processor = dict(by_epoch=False, window_size=10)
randomness = dict(seed=0)
# Precise BN before every validation / checkpoint, KD adapter stats (README "Simulated dataset")
custom_hooks = [dict(type='PreciseBNHook', num_batches=50), dict(type='DistillStatsHook')]
