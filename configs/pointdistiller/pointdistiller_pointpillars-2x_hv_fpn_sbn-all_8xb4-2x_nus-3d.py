# PointDistiller: nuScenes PointPillars FPN (teacher, stock mmdet3d) -> 2x student.
# Paper Table 4 (nuScenes val): student w/o KD 36.0 mAP / 50.5 NDS, with PointDistiller
# 36.7 / 51.0 (no teacher row in the paper; mmdet3d 1.x zoo teacher: 39.71 mAP / 53.15 NDS).
#
# Train:  mim train mmdet3d configs/pointdistiller/<this file> \
#             --cfg-options model.teacher_ckpt=checkpoints/<teacher>.pth
# Export: python tools/export_student.py work_dirs/<this>/epoch_24.pth student.pth
# Test:   mim test mmdet3d \
#             configs/pointpillars/pointpillars-2x_hv_fpn_sbn-all_8xb4-2x_nus-3d.py \
#             --checkpoint student.pth
_base_ = [
    '../_base_/students/pointpillars-2x_hv_fpn_sbn-all_8xb4-2x_nus-3d.py',
    '../_base_/distill/pointdistiller_pointpillars_nus-3d.py',  # teacher, tap and KD defaults
]

model = dict(
    _base_.pd_distiller,
    _delete_=True,
    student=_base_.model,
    distill_cfg=[dict(_base_.pd_tap, loss=dict(_base_.pd_loss, student_channels=182))])
