# PointDistiller settings shared by the KITTI PointRCNN students (8x, 16x); defines no `model`,
# so it composes with a student base. Why each value: configs/pointdistiller/README.md,
# "PointRCNN KITTI".
custom_imports = dict(imports=['mmdet3d_pointdistiller'], allow_failed_imports=False)
# default_scope = 'mmdet3d' comes with the student base (from the stock mmdet3d config)

# Teacher weights: the mmdet3d 1.x model zoo checkpoint of the stock config (KITTI 3-class
# moderate 3D AP 70.83), download
# https://download.openmmlab.com/mmdetection3d/v1.0.0_models/point_rcnn/point_rcnn_2x8_kitti-3d-3classes_20211208_151344.pth
# into checkpoints/ or override with --cfg-options model.teacher_ckpt=...
teacher_ckpt = 'checkpoints/point_rcnn_2x8_kitti-3d-3classes_20211208_151344.pth'
teacher_cfg = 'mmdet3d::point_rcnn/point-rcnn_8xb2_kitti-3d-3class.py'

pd_distiller = dict(
    type='PointDistillerDetector',
    teacher=dict(cfg_path=teacher_cfg),
    teacher_ckpt=teacher_ckpt,
    teacher_norm_eval=True,  # teacher BN keeps its running statistics
    distill=True)

# The tap: PointNetFPNeck point features (B, C, 16384) at the sampled input points.
pd_tap = dict(name='fp', module='neck', output='fp_features')
pd_loss = dict(
    type='PointDistillerLoss',
    teacher_channels=128,
    student_channels=45,
    adapter_channels=45,  # C' = student width, as the released code
    num_queries=6000,  # N per sample (code)
    num_neighbors=128,  # K, centre included (code)
    feature_layout='point',
    score='teacher_max',  # channel-max of the teacher feature (paper and code)
    temperature=1.0,
    reweight=True,  # the paper's weights; the code never applies its weight (README)
    local=True,
    pool='max',  # max over the K edge features (code, point detectors)
    loss_weight=2.0,  # the code's 2 * mean
    knn_chunk_size=512)
