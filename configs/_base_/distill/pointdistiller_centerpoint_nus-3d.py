# PointDistiller and CenterHead distillation settings shared by the nuScenes pillar CenterPoint
# students (4x, 16x); defines no `model`, so it composes with a student base. The tap and loss
# are the KITTI PointPillars ones (the same pillar encoder: points per pillar as the score, the
# adapter design of that base). Why: configs/pointdistiller/README.md, "CenterPoint".
# centerhead_kd.py: the head-distillation tap and loss (pd_head_tap, pd_head_loss)
_base_ = ['./pointdistiller_pointpillars_tap.py', './centerhead_kd.py']
custom_imports = dict(imports=['mmdet3d_pointdistiller'], allow_failed_imports=False)
# default_scope = 'mmdet3d' comes with the student base (from the stock mmdet3d config)

# Teacher weights: the mmdet3d 1.x model zoo checkpoint of the stock config (nuScenes val
# 48.70 mAP / 59.62 NDS), download
# https://download.openmmlab.com/mmdetection3d/v1.0.0_models/centerpoint/centerpoint_02pillar_second_secfpn_circlenms_4x8_cyclic_20e_nus/centerpoint_02pillar_second_secfpn_circlenms_4x8_cyclic_20e_nus_20220811_031844-191a3822.pth
# into checkpoints/ or override with --cfg-options model.teacher_ckpt=...
teacher_ckpt = 'checkpoints/centerpoint_02pillar_second_secfpn_circlenms_4x8_cyclic_20e_nus_20220811_031844-191a3822.pth'  # noqa: E501
teacher_cfg = ('mmdet3d::centerpoint/'
               'centerpoint_pillar02_second_secfpn_head-circlenms_8xb4-cyclic-20e_nus-3d.py')

pd_distiller = dict(
    type='PointDistillerDetector',
    teacher=dict(cfg_path=teacher_cfg),
    teacher_ckpt=teacher_ckpt,
    teacher_norm_eval=True,  # teacher BN keeps its running statistics
    teacher_fast_pfn=True,  # its PillarFeatureNet's last PFNLayer, BN folded (same function)
    distill=True)

# The tap: the point branch's pillar encoder (one row per pillar, (M, 64) for the teacher).
# pd_loss: the KITTI PointPillars loss unchanged (N = 1000 pillars per sample, K = 128); the
# released code has no CenterPoint or nuScenes pillar-encoder setting to take them from.
pd_tap = dict(name='pfn', module='pts_voxel_encoder', output=None)
