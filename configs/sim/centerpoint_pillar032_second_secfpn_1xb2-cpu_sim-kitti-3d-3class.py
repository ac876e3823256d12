# CenterPoint (pillars) teacher on the simulated KITTI-format dataset, sized for CPU training:
# the sim PointPillars config (data, pipeline, range, 0.32 m pillars, schedule, hooks) with
# its point branch (pillar encoder, scatter, SECOND backbone, SECONDFPN neck: the same modules
# as mmdet3d's pillar CenterPoint, `mmdet3d::_base_/models/centerpoint_pillar02_second_secfpn_
# nus.py`) under mmdet3d's `CenterPoint` detector and `CenterHead`. Only the head is written
# here, because mmdet3d ships no KITTI-format CenterPoint: three tasks of one class each, in
# the dataset's class order (CenterHead numbers the labels by their position in `tasks`), and
# the sim range and grid. mmdet3d 1.4's CenterHead trains only on boxes with a velocity
# (nuScenes): the training pipeline appends a zero one (`AddZeroVelocity`) and the `vel` head's
# code weights are 0, so it receives no gradient (mmdet3d_pointdistiller/datasets/).
#
# Train: mim train mmdet3d configs/sim/centerpoint_pillar032_second_secfpn_1xb2-cpu_sim-kitti-
#   3d-3class.py  (budget and cost: configs/sim/README.md, "CenterPoint")
_base_ = ['./pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py']

# the SECONDFPN of the sim point branch upsamples its three stages [1, 2, 4]: stride 2, a
# 64 x 64 heatmap of 0.64 m cells (mmdet3d's nuScenes CenterPoint: stride 4 of 0.2 m pillars)
out_size_factor = 2
tasks = [
    dict(num_class=1, class_names=['Pedestrian']),
    dict(num_class=1, class_names=['Cyclist']),
    dict(num_class=1, class_names=['Car']),
]
post_center_range = [-10.0, -30.48, -10.0, 50.96, 30.48, 10.0]  # the range + 10 m (nuScenes)

# the sim PointPillars pipeline, boxes given a zero velocity just before packing
train_pipeline = _base_.train_pipeline[:-1] + [dict(type='AddZeroVelocity'),
                                               _base_.train_pipeline[-1]]
train_dataloader = dict(dataset=dict(dataset=dict(pipeline=train_pipeline)))

model = dict(
    _delete_=True,
    type='CenterPoint',
    data_preprocessor=_base_.model.data_preprocessor,
    pts_voxel_encoder=_base_.model.voxel_encoder,
    pts_middle_encoder=_base_.model.middle_encoder,
    pts_backbone=_base_.model.backbone,
    pts_neck=_base_.model.neck,
    pts_bbox_head=dict(
        type='CenterHead',
        in_channels=384,  # 3 x 128 neck outputs
        tasks=tasks,
        common_heads=dict(reg=(2, 2), height=(1, 2), dim=(3, 2), rot=(2, 2), vel=(2, 2)),
        share_conv_channel=64,
        bbox_coder=dict(
            type='CenterPointBBoxCoder',
            pc_range=_base_.point_cloud_range[:2],
            post_center_range=post_center_range,
            max_num=100,
            score_threshold=0.1,
            out_size_factor=out_size_factor,
            voxel_size=_base_.voxel_size[:2],
            code_size=9),
        separate_head=dict(type='SeparateHead', init_bias=-2.19, final_kernel=3),
        loss_cls=dict(type='mmdet.GaussianFocalLoss', reduction='mean'),
        loss_bbox=dict(type='mmdet.L1Loss', reduction='mean', loss_weight=0.25),
        norm_bbox=True),
    train_cfg=dict(pts=dict(
        point_cloud_range=_base_.point_cloud_range,
        grid_size=[128, 128, 1],
        voxel_size=_base_.voxel_size,
        out_size_factor=out_size_factor,
        dense_reg=1,
        gaussian_overlap=0.1,
        max_objs=100,
        min_radius=2,
        # reg 2, height 1, dim 3, rot (sin, cos) 2; vel 2 at 0 (zero targets, see above)
        code_weights=[1.0] * 8 + [0.0, 0.0])),
    test_cfg=dict(pts=dict(
        post_center_limit_range=post_center_range,
        max_per_img=100,
        max_pool_nms=False,
        min_radius=[0.175, 0.85, 4],  # circle NMS only (nuScenes values of the like classes)
        score_threshold=0.1,
        pc_range=_base_.point_cloud_range[:2],
        out_size_factor=out_size_factor,
        voxel_size=_base_.voxel_size[:2],
        nms_type='rotate',  # mmcv nms_rotated (the CPU dispatcher of compat/ on a CPU)
        pre_max_size=1000,
        post_max_size=83,
        nms_thr=0.2)))
