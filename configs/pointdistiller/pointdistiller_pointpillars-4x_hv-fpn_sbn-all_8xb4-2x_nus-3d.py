# PointDistiller: nuScenes PointPillars FPN (teacher, stock mmdet3d) -> 4x student.
# Paper Table 4 (nuScenes val): student w/o KD 32.2 mAP / 47.3 NDS, with PointDistiller
# 32.8 / 48.6 (no teacher row in the paper; mmdet3d 1.x zoo teacher: 39.71 mAP / 53.15 NDS).
#
# Train:  mim train mmdet3d configs/pointdistiller/<this file> \
#             --cfg-options model.teacher_ckpt=checkpoints/<teacher>.pth
# Export: python tools/export_student.py work_dirs/<this>/epoch_24.pth student.pth
# Test:   mim test mmdet3d \
#             configs/pointpillars/pointpillars-4x_hv_fpn_sbn-all_8xb4-2x_nus-3d.py \
#             --checkpoint student.pth
_base_ = ['../_base_/students/pointpillars-4x_hv_fpn_sbn-all_8xb4-2x_nus-3d.py']

custom_imports = dict(imports=['mmdet3d_pointdistiller'], allow_failed_imports=False)
default_scope = 'mmdet3d'

# Teacher weights: the mmdet3d 1.x model zoo checkpoint of the stock config, download
# https://download.openmmlab.com/mmdetection3d/v1.0.0_models/pointpillars/hv_pointpillars_fpn_sbn-all_4x8_2x_nus-3d/hv_pointpillars_fpn_sbn-all_4x8_2x_nus-3d_20210826_104936-fca299c1.pth
# into checkpoints/ or override with --cfg-options model.teacher_ckpt=...
teacher_ckpt = 'checkpoints/hv_pointpillars_fpn_sbn-all_4x8_2x_nus-3d_20210826_104936-fca299c1.pth'  # noqa: E501
teacher_cfg = 'mmdet3d::pointpillars/pointpillars_hv_fpn_sbn-all_8xb4-2x_nus-3d.py'

model = dict(
    _delete_=True,
    type='PointDistillerDetector',
    student=_base_.model,
    teacher=dict(cfg_path=teacher_cfg),
    teacher_ckpt=teacher_ckpt,
    teacher_norm_eval=True,
    distill=True,
    distill_cfg=[
        dict(
            # FPN output level 0 (B, C, 200, 200) of the MVX detector's point branch
            name='fpn_0',
            module='pts_neck',
            output=0,
            loss=dict(
                type='PointDistillerLoss',
                teacher_channels=256,
                student_channels=128,
                adapter_channels=64,  # C' (code)
                num_queries=256,  # N per sample (code)
                num_neighbors=128,  # K (code)
                feature_layout='bev',
                score='teacher_max',  # channel-max of the teacher map (code)
                # weights N * softmax(max(G_T) / tau) as in the paper; the released code's
                # weights are the constant 1 (reweight=False reproduces that)
                temperature=1.0,
                reweight=True,
                local=True,
                pool='none',
                loss_weight=2.0,  # the code's 2 * mean
                knn_chunk_size=256)),
    ])
