# Student-only baseline (no distillation): the width-reduced CenterPoint student trained with the
# stock mmdet3d recipe. It is also the deployment config of the distilled student: a checkpoint
# exported by tools/export_student.py loads into this model with strict=True, e.g.
#   mim test mmdet3d configs/centerpoint/centerpoint-16x_pillar02_second_secfpn_head-circlenms_8xb4-cyclic-20e_nus-3d.py \
#       --checkpoint student.pth
_base_ = ['../_base_/students/centerpoint-16x_pillar02_second_secfpn_head-circlenms_8xb4-cyclic-20e_nus-3d.py']

custom_imports = dict(imports=['mmdet3d_pointdistiller'], allow_failed_imports=False)
default_scope = 'mmdet3d'
