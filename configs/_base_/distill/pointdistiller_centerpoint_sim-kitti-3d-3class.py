# PointDistiller and CenterHead distillation settings of the simulated-dataset CenterPoint
# students (4x, 16x): the sim PointPillars taps and losses (same pillar encoder, grid and
# backbone, so the same N, K and adapter design, which follow that base) on the point branch
# of mmdet3d's `CenterPoint` (`pts_` modules), the sim CenterPoint teacher, and the head
# distillation loss. Listed after a sim CenterPoint student config. Why:
# configs/pointdistiller/README.md, "CenterPoint".
# centerhead_kd.py: the head-distillation tap and loss (pd_head_tap, pd_head_loss)
_base_ = ['./pointdistiller_pointpillars_sim-kitti-3d-3class.py', './centerhead_kd.py']

# No sim CenterPoint teacher is shipped yet: train one with
#   mim train mmdet3d configs/sim/centerpoint_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-3class.py
# and pass it with --cfg-options model.teacher_ckpt=work_dirs/.../iter_N.pth
teacher_ckpt = 'checkpoints/sim/centerpoint_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-3class.pth'
teacher_cfg = ('{{ fileDirname }}/../../sim/'
               'centerpoint_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-3class.py')
pd_distiller = dict(teacher=dict(cfg_path=teacher_cfg), teacher_ckpt=teacher_ckpt)

# the pillar-encoder tap of the PointPillars students, on the point branch
pd_tap = dict(name='pfn', module='pts_voxel_encoder', output=None)
# BEV taps: the first two backbone stages (teacher 64 / 128 channels), as the sim PointPillars
# BEV variants (`pd_bev_loss`)
pd_bev_taps = [dict(name='backbone_0', module='pts_backbone', output=0),
               dict(name='backbone_1', module='pts_backbone', output=1)]
