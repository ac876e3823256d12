# PointDistiller, KITTI 3-class: PointRCNN teacher (stock mmdet3d) -> PointRCNN 8x student.
# Paper numbers: metafile.yml; train, export (epoch_80.pth), test: README.md "Usage".
# Student-only baseline and deployment config:
#   configs/point_rcnn/point-rcnn-8x_8xb2_kitti-3d-3class.py
_base_ = [
    '../_base_/students/point-rcnn-8x_8xb2_kitti-3d-3class.py',
    '../_base_/distill/pointdistiller_point-rcnn_kitti-3d-3class.py',  # teacher, tap and KD defaults
]

model = dict(
    _base_.pd_distiller,
    _delete_=True,
    student=_base_.model,
    distill_cfg=[dict(_base_.pd_tap, loss=_base_.pd_loss)])
