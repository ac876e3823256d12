# PointDistiller settings shared by the KITTI SECOND students (4x, 16x).
# A distillation config lists this file next to its student base config (which defines `model`)
# and assembles `model` from `pd_distiller`, the student and `pd_loss`; this file defines no
# `model` itself, so both bases compose.
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

# Both outputs of the 2-D SECOND backbone (BEV 200x176 and 100x88), one loss per stage
# (taps `backbone` output 0 and 1; the teacher widths are 128 and 256).
# The released code picks the important BEV cells by the channel-max of the teacher map (there
# are no point counts per BEV cell); N = 256 per sample and stage, C' = 32; K = 256 (4x) or
# 128 (16x) is set by each config. Weights follow the paper (N * softmax(max(G_T) / tau)); the
# released SECOND code's softmax runs over a size-1 axis, i.e. it applies the constant batch
# size (reweight=False, with loss_weight = 2 * batch size, reproduces that).
pd_loss = dict(
    type='PointDistillerLoss',
    adapter_channels=32,
    num_queries=256,
    num_neighbors=256,
    feature_layout='bev',
    score='teacher_max',
    temperature=1.0,
    reweight=True,
    local=True,
    pool='none',
    loss_weight=2.0,  # the code's 2 * mean (its extra x batch-size artefact is not reproduced)
    knn_chunk_size=256)
