# A short, real `mim train mmdet3d` run of the stock KITTI 3-class PointPillars on mmdet3d's
# own one-frame KITTI set (tests/data/mmdet3d_kitti_mini, override with the environment
# variable PD_KITTI_MINI). 2 epochs x 2 repeats = 4 iterations, one checkpoint per epoch and a
# KittiMetric evaluation at the end (CPU IoU via mmdet3d_pointdistiller.compat). It exists to
# prove the whole stack (voxelization ops, training loop, checkpoints, evaluation) on a fresh
# machine in about a minute; it is not a meaningful model.
_base_ = ['mmdet3d::pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py']

custom_imports = dict(imports=['mmdet3d_pointdistiller'], allow_failed_imports=False)
default_scope = 'mmdet3d'

data_root = '{{$PD_KITTI_MINI:tests/data/mmdet3d_kitti_mini/}}'
class_names = ['Pedestrian', 'Cyclist', 'Car']
metainfo = dict(classes=class_names)
point_cloud_range = [0, -39.68, -3, 69.12, 39.68, 1]

# the mini set's ground-truth database holds one Pedestrian and no plane information
db_sampler = dict(
    data_root=data_root,
    info_path=data_root + 'kitti_dbinfos_train.pkl',
    rate=1.0,
    prepare=dict(filter_by_difficulty=[-1], filter_by_min_points=dict(Pedestrian=5)),
    classes=class_names,
    sample_groups=dict(Pedestrian=2),
    points_loader=dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=4, use_dim=4))
train_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=4, use_dim=4),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='ObjectSample', db_sampler=db_sampler, use_ground_plane=False),
    dict(type='RandomFlip3D', flip_ratio_bev_horizontal=0.5),
    dict(type='GlobalRotScaleTrans', rot_range=[-0.78539816, 0.78539816],
         scale_ratio_range=[0.95, 1.05]),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='PointShuffle'),
    dict(type='Pack3DDetInputs', keys=['points', 'gt_labels_3d', 'gt_bboxes_3d'])
]

train_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(times=2, dataset=dict(
        data_root=data_root, ann_file='kitti_infos_train.pkl', pipeline=train_pipeline,
        data_prefix=dict(pts='training/velodyne_reduced'), metainfo=metainfo)))
val_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file='kitti_infos_train.pkl',
                 data_prefix=dict(pts='training/velodyne_reduced')))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'kitti_infos_train.pkl')
test_evaluator = val_evaluator

train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=2)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', interval=1))
randomness = dict(seed=0, deterministic=False)
