# PointDistiller, nuScenes: pillar CenterPoint teacher (stock mmdet3d, circle NMS) -> 16x student.
# Train, export, test: README.md "Usage". Student-only baseline and deployment config:
#   configs/centerpoint/centerpoint-16x_pillar02_second_secfpn_head-circlenms_8xb4-cyclic-20e_nus-3d.py
# Head distillation beside it: add dict(_base_.pd_head_tap, loss=_base_.pd_head_loss) to
# distill_cfg (configs/_base_/distill/pointdistiller_centerpoint_nus-3d.py).
_base_ = [
    '../_base_/students/centerpoint-16x_pillar02_second_secfpn_head-circlenms_8xb4-cyclic-20e_nus-3d.py',
    '../_base_/distill/pointdistiller_centerpoint_nus-3d.py',  # teacher, tap and KD defaults
]

model = dict(
    _base_.pd_distiller,
    _delete_=True,
    student=_base_.model,
    distill_cfg=[
        dict(_base_.pd_tap,
             loss=dict(_base_.pd_loss, student_channels=16, adapter_channels=16))])
