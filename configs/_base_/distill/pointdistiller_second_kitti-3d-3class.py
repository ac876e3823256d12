# PointDistiller settings shared by the KITTI SECOND students (4x, 16x); defines no `model`, so
# it composes with a student base. Why each value: configs/pointdistiller/README.md, "SECOND KITTI".
custom_imports = dict(imports=['mmdet3d_pointdistiller'], allow_failed_imports=False)
# default_scope = 'mmdet3d' comes with the student base (from the stock mmdet3d config)

# Teacher weights: the mmdet3d 1.x model zoo checkpoint of the stock config (KITTI 3-class
# moderate 3D AP 65.3), download
# https://download.openmmlab.com/mmdetection3d/v1.1.0_models/second/second_hv_secfpn_8xb6-80e_kitti-3d-3class/second_hv_secfpn_8xb6-80e_kitti-3d-3class-b086d0a3.pth
# into checkpoints/ or override with --cfg-options model.teacher_ckpt=...
teacher_ckpt = 'checkpoints/second_hv_secfpn_8xb6-80e_kitti-3d-3class-b086d0a3.pth'
teacher_cfg = 'mmdet3d::second/second_hv_secfpn_8xb6-80e_kitti-3d-3class.py'

pd_distiller = dict(
    type='PointDistillerDetector',
    teacher=dict(cfg_path=teacher_cfg),
    teacher_ckpt=teacher_ckpt,
    teacher_norm_eval=True,  # teacher BN keeps its running statistics
    distill=True)

# One loss per 2-D backbone stage (taps `backbone` output 0 and 1, BEV 200x176 and 100x88,
# teacher widths 128 and 256), set by each config with its K.
pd_loss = dict(
    type='PointDistillerLoss',
    adapter_channels=32,  # C' (code)
    num_queries=256,  # N per sample and stage (code)
    num_neighbors=256,  # K of the 4x student (code); the 16x config sets 128
    feature_layout='bev',
    score='teacher_max',  # channel-max of the teacher map (code)
    temperature=1.0,
    reweight=True,  # the paper's weights; the code's softmax runs over a size-1 axis (README)
    local=True,
    pool='none',
    loss_weight=2.0,  # the code's 2 * mean (its extra x batch-size factor: README)
    knn_chunk_size=256)
