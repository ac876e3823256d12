# PointDistiller from the stock mmdet3d PointPillars teacher to "your" 2x student
# (docs/custom_distillation.md): student base + distillation base -> this leaf config.
_base_ = [
    './my-pointpillars-2x_hv_secfpn_8xb6-160e_kitti-3d-3class.py',  # your student
    '../../configs/_base_/distill/pointdistiller_pointpillars_kitti-3d-3class.py',  # teacher, tap
]

model = dict(
    _base_.pd_distiller,  # teacher config + checkpoint, teacher_norm_eval, fast path
    _delete_=True,
    student=_base_.model,
    distill_cfg=[
        # teacher sides that cannot collapse, as the shipped defaults
        # (configs/pointdistiller/README.md, "Teacher side")
        dict(_base_.pd_tap,  # the pillar encoder's output rows
             loss=dict(_base_.pd_loss, student_channels=48,
                       # design (c): regress the teacher's parameter-free edge features
                       adapter_channels=128, teacher_projection='edge', act_cfg=None)),
        dict(name='backbone_1', module='backbone', output=1,  # a BEV tap (stride 4)
             loss=dict(type='PointDistillerLoss', teacher_channels=128, student_channels=96,
                       adapter_channels=96, num_queries=256, num_neighbors=32,
                       feature_layout='bev', score='teacher_max', temperature=1.0,
                       teacher_adapter_trainable=False,  # a frozen teacher adapter
                       loss_weight=2.0)),
    ])
