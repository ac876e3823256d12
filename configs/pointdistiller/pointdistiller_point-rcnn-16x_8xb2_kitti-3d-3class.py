# PointDistiller: PointRCNN (teacher, stock mmdet3d) -> PointRCNN 16x student, KITTI 3-class.
# Paper Table 1/2 (KITTI val, R40, moderate mAP BEV / 3D): student w/o KD 73.4 / 67.7,
# with PointDistiller 74.0 / 69.0, teacher 75.3 / 70.9.
#
# Train:  mim train mmdet3d configs/pointdistiller/<this file> \
#             --cfg-options model.teacher_ckpt=checkpoints/<teacher>.pth
# Export: python tools/export_student.py work_dirs/<this>/epoch_80.pth student.pth
# Test:   mim test mmdet3d \
#             configs/point_rcnn/point-rcnn-16x_8xb2_kitti-3d-3class.py \
#             --checkpoint student.pth
_base_ = [
    '../_base_/students/point-rcnn-16x_8xb2_kitti-3d-3class.py',
    '../_base_/distill/pointdistiller_point-rcnn_kitti-3d-3class.py',  # teacher, tap and KD defaults
]

model = dict(
    _base_.pd_distiller,
    _delete_=True,
    student=_base_.model,
    distill_cfg=[
        dict(
            _base_.pd_tap,
            # C' = student width, as the released code
            loss=dict(_base_.pd_loss, student_channels=32, adapter_channels=32)),
    ])
