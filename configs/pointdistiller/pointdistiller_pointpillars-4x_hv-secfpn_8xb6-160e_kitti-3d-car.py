# PointDistiller: PointPillars (teacher, stock mmdet3d) -> PointPillars 4x student, KITTI Car.
# The released code trained a separate Car-only PointPillars (teacher and 4x student) for the
# Car column of Tables 1/2 (Car moderate AP BEV / 3D: student w/o KD 88.2 / 75.9, with
# PointDistiller 89.0 / 76.9, teacher 88.1 / 75.9); the paper does not mention it.
#
# Train:  mim train mmdet3d configs/pointdistiller/<this file> \
#             --cfg-options model.teacher_ckpt=checkpoints/<teacher>.pth
# Export: python tools/export_student.py work_dirs/<this>/epoch_80.pth student.pth
# Test:   mim test mmdet3d \
#             configs/pointpillars/pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-car.py \
#             --checkpoint student.pth
_base_ = ['../_base_/students/pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-car.py']

custom_imports = dict(imports=['mmdet3d_pointdistiller'], allow_failed_imports=False)
default_scope = 'mmdet3d'

# Teacher weights: the mmdet3d 1.x model zoo checkpoint of the stock Car config (KITTI Car
# moderate 3D AP 77.6), download
# https://download.openmmlab.com/mmdetection3d/v1.0.0_models/pointpillars/hv_pointpillars_secfpn_6x8_160e_kitti-3d-car/hv_pointpillars_secfpn_6x8_160e_kitti-3d-car_20220331_134606-d42d15ed.pth
# into checkpoints/ or override with --cfg-options model.teacher_ckpt=...
teacher_ckpt = 'checkpoints/hv_pointpillars_secfpn_6x8_160e_kitti-3d-car_20220331_134606-d42d15ed.pth'  # noqa: E501
teacher_cfg = 'mmdet3d::pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-car.py'

model = dict(
    _delete_=True,
    type='PointDistillerDetector',
    student=_base_.model,
    teacher=dict(cfg_path=teacher_cfg),
    teacher_ckpt=teacher_ckpt,
    teacher_norm_eval=True,
    distill=True,
    distill_cfg=[
        dict(
            # PillarFeatureNet output, one row per non-empty pillar (before the BEV scatter)
            name='pfn',
            module='voxel_encoder',
            output=None,
            loss=dict(
                type='PointDistillerLoss',
                teacher_channels=64,
                student_channels=32,
                adapter_channels=32,  # C' = student width, as the released code
                # N per SAMPLE. The released code takes the top 6000 pillars of a whole batch of
                # 6 (8xb6); 1000 per sample keeps that budget (6000 per batch of 6) while
                # keeping queries and their kNN candidates inside one scene.
                num_queries=1000,
                num_neighbors=128,  # K, centre included (code and config)
                feature_layout='voxel',
                score='num_points',  # importance = points per pillar (paper and code)
                # The paper gives no tau; the code hard-codes 1e-2 on integer point counts,
                # a hard arg-max (a one-point gap = factor e^100) that leaves only the
                # pillars with the maximum count (32, saturated) weighted. On the real KITTI
                # frame 000008 (top-1000 pillars: counts 5..32, median 7) the effective
                # number of weighted queries (sum w)^2 / sum w^2 is 56 for tau = 0.01 or 1,
                # 82 for tau = 4 and 230 for tau = 8: tau = 8 keeps dense pillars dominant
                # (max weight 7.9x the mean) while sparse ones still count.
                # temperature=0.01 reproduces the released code's hard weighting.
                temperature=8.0,
                reweight=True,
                local=True,
                pool='none',  # compare all K edge features (code, voxel detectors)
                loss_weight=2.0,  # the code's 2 * mean
                knn_chunk_size=1024)),
    ])
