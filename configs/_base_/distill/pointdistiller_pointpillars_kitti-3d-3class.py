# PointDistiller settings shared by the KITTI PointPillars students (4x, 16x, Car 4x); defines no
# `model`, so it composes with a student base. Tap and loss: `pointdistiller_pointpillars_tap.py`;
# why: configs/pointdistiller/README.md, "PointPillars KITTI".
_base_ = ['./pointdistiller_pointpillars_tap.py']
custom_imports = dict(imports=['mmdet3d_pointdistiller'], allow_failed_imports=False)
# default_scope = 'mmdet3d' comes with the student base (from the stock mmdet3d config)

# Teacher weights: the mmdet3d 1.x model zoo checkpoint of the stock config (KITTI 3-class
# moderate 3D AP 64.07), download
# https://download.openmmlab.com/mmdetection3d/v1.0.0_models/pointpillars/hv_pointpillars_secfpn_6x8_160e_kitti-3d-3class/hv_pointpillars_secfpn_6x8_160e_kitti-3d-3class_20220301_150306-37dc2420.pth
# into checkpoints/ or override with --cfg-options model.teacher_ckpt=...
teacher_ckpt = 'checkpoints/hv_pointpillars_secfpn_6x8_160e_kitti-3d-3class_20220301_150306-37dc2420.pth'  # noqa: E501
teacher_cfg = 'mmdet3d::pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py'

pd_distiller = dict(
    type='PointDistillerDetector',
    teacher=dict(cfg_path=teacher_cfg),
    teacher_ckpt=teacher_ckpt,
    teacher_norm_eval=True,  # teacher BN keeps its running statistics
    # the frozen teacher's last PFNLayer with its BN folded: same function up to rounding,
    # faster KD iterations (benchmarks/sim_iteration_profile.md)
    teacher_fast_pfn=True,
    distill=True)
