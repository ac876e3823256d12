# Student-only baseline (no distillation): the width-reduced student trained with the stock
# mmdet3d recipe. It is also the deployment config of the distilled student: a checkpoint
# exported by tools/export_student.py loads into this model with strict=True, e.g.
#   mim test mmdet3d \
#       configs/second/second-4x_hv_secfpn_8xb6-80e_kitti-3d-3class.py \
#       --checkpoint student.pth
_base_ = ['../_base_/students/second-4x_hv_secfpn_8xb6-80e_kitti-3d-3class.py']

custom_imports = dict(imports=['mmdet3d_pointdistiller'], allow_failed_imports=False)
default_scope = 'mmdet3d'
