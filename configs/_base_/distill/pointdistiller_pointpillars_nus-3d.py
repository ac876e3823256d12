# PointDistiller settings shared by the nuScenes PointPillars (FPN) students (2x, 4x); defines no
# `model`, so it composes with a student base. Why each value: configs/pointdistiller/README.md,
# "nuScenes PointPillars".
custom_imports = dict(imports=['mmdet3d_pointdistiller'], allow_failed_imports=False)
# default_scope = 'mmdet3d' comes with the student base (from the stock mmdet3d config)

# Teacher weights: the mmdet3d 1.x model zoo checkpoint of the stock config (nuScenes val
# 39.71 mAP / 53.15 NDS), download
# https://download.openmmlab.com/mmdetection3d/v1.0.0_models/pointpillars/hv_pointpillars_fpn_sbn-all_4x8_2x_nus-3d/hv_pointpillars_fpn_sbn-all_4x8_2x_nus-3d_20210826_104936-fca299c1.pth
# into checkpoints/ or override with --cfg-options model.teacher_ckpt=...
teacher_ckpt = 'checkpoints/hv_pointpillars_fpn_sbn-all_4x8_2x_nus-3d_20210826_104936-fca299c1.pth'  # noqa: E501
teacher_cfg = 'mmdet3d::pointpillars/pointpillars_hv_fpn_sbn-all_8xb4-2x_nus-3d.py'

pd_distiller = dict(
    type='PointDistillerDetector',
    teacher=dict(cfg_path=teacher_cfg),
    teacher_ckpt=teacher_ckpt,
    teacher_norm_eval=True,  # teacher BN keeps its running statistics
    # (no teacher_fast_pfn: the nuScenes teacher encodes pillars with HardVFE, which has no
    # PFNLayer to fold)
    distill=True)

# The tap: FPN output level 0 (B, C, 200, 200) of the MVX detector's point branch.
pd_tap = dict(name='fpn_0', module='pts_neck', output=0)
pd_loss = dict(
    type='PointDistillerLoss',
    teacher_channels=256,
    student_channels=128,
    adapter_channels=64,  # C' (code)
    num_queries=256,  # N per sample (code)
    num_neighbors=128,  # K (code)
    feature_layout='bev',
    score='teacher_max',  # channel-max of the teacher map (code)
    temperature=1.0,
    reweight=True,  # the paper's weights; the code's are the constant 1 (README)
    local=True,
    pool='none',
    loss_weight=2.0,  # the code's 2 * mean
    knn_chunk_size=256)
