# Taps and losses of the seven earlier KD methods of the PointDistiller paper's Table 3 for a
# PointPillars teacher (stock widths) and its 4x student (every width / 2). Variables only: a
# config lists this file next to a PointDistiller PointPillars 4x config (which defines `model`)
# and sets `model = dict(distill_cfg=_base_.kd_<method>)`, so the same method runs on KITTI
# (configs/kd_methods/) and on any other grid with the same widths (e.g. the simulated CPU
# dataset of configs/sim/). Why each choice: configs/kd_methods/README.md.
# Shapes below are for the KITTI grid (432 x 496 pillars): backbone stages 216 x 248, 108 x 124,
# 54 x 62; SECONDFPN output 216 x 248 with 384 (teacher) / 192 (student) channels.

# FitNets (Romero et al., ICLR 2015): hint = the teacher's SECONDFPN output, guided layer = the
# student's, regressed through a 1x1 conv inside the loss; mean squared error.
kd_fitnets = [
    dict(
        name='neck',
        module='neck',
        output=0,  # SECONDFPN returns [cat(upsampled levels)]
        loss=dict(type='FitNetsLoss', teacher_channels=384, student_channels=192,
                  feature_layout='bev', loss_weight=1.0)),
]

# Attention Transfer (Zagoruyko & Komodakis, ICLR 2017): spatial attention (p = 2) of the three
# SECOND backbone stages, no adapter; loss_weight = beta / 2 = 500 with AT's beta = 1000.
kd_attention_transfer = [
    dict(name='at_0', module='backbone', output=0,
         loss=dict(type='AttentionTransferLoss', teacher_channels=64, student_channels=32,
                   feature_layout='bev', p=2.0, loss_weight=500.0)),
    dict(name='at_1', module='backbone', output=1,
         loss=dict(type='AttentionTransferLoss', teacher_channels=128, student_channels=64,
                   feature_layout='bev', p=2.0, loss_weight=500.0)),
    dict(name='at_2', module='backbone', output=2,
         loss=dict(type='AttentionTransferLoss', teacher_channels=256, student_channels=128,
                   feature_layout='bev', p=2.0, loss_weight=500.0)),
]

# SE-SSD consistency (Zheng et al., CVPR 2021): the teacher runs up to its bbox_head (the
# distiller switches it to _forward); student boxes matched to the teacher's confident post-NMS
# boxes by 3D IoU > 0.7 are pulled towards them (Smooth-L1 on x, y, z, w, l, h, |sin dtheta|)
# together with their sigmoid class scores. Anchors and box coder come from the teacher head.
kd_se_ssd = [
    dict(
        name='consistency',
        module='bbox_head',
        output=None,  # the whole (cls_scores, bbox_preds, dir_cls_preds) tuple
        loss=dict(
            type='SESSDConsistencyLoss',
            feature_layout='head',
            iou_thr=0.7,  # SE-SSD's tau_I
            score_thr=0.3,
            nms_pre=1000,
            nms_thr=0.01,  # the PointPillars KITTI test_cfg NMS threshold
            max_num=100,
            box_weight=1.0,
            cls_weight=1.0,
            beta=1.0 / 9.0,  # Smooth-L1 beta of the PointPillars box loss
            loss_weight=1.0)),
]

# Similarity-Preserving KD (Tung & Mori, ICCV 2019): Gram matrices over the BEV positions of each
# scene (not over the unrelated scenes of a batch) of the last backbone stage (KITTI: 54 x 62 =
# 3348 cells, all used); gamma = 3000.
kd_similarity_preserving = [
    dict(
        name='sp',
        module='backbone',
        output=2,
        loss=dict(type='SimilarityPreservingLoss', teacher_channels=256, student_channels=128,
                  feature_layout='bev', mode='spatial', max_positions=4096,
                  loss_weight=3000.0)),
]

# CRD (Tian et al., ICLR 2020), memory-free in-batch variant: 512 random positions per scene of
# the SECONDFPN output, 128-d embedding heads, InfoNCE both ways (tau = 0.07) with the other
# sampled positions of the batch as negatives; beta = 0.8.
kd_crd = [
    dict(
        name='crd',
        module='neck',
        output=0,
        loss=dict(type='CRDLoss', teacher_channels=384, student_channels=192,
                  feature_layout='bev', embed_channels=128, temperature=0.07, num_samples=512,
                  sampling='random', loss_weight=0.8)),
]

# Overhaul of feature distillation (Heo et al., ICCV 2019): pre-ReLU taps = the last BatchNorm of
# each SECOND backbone block (Conv-BN-ReLU(inplace) sequences; clone_output=True keeps the
# recorded map pre-ReLU), teacher margin-ReLU with margins from that BatchNorm's gamma/beta,
# student 1x1 conv + BN connector, partial L2; stage weights 1/4, 1/2, 1 (official 1/2^(n-i-1)).
kd_overhaul = [
    dict(name='ofd_0', module='backbone.blocks.0.10', output=None, clone_output=True,
         loss=dict(type='OverhaulKDLoss', teacher_channels=64, student_channels=32,
                   feature_layout='bev', margin_source='bn', loss_weight=0.25)),
    dict(name='ofd_1', module='backbone.blocks.1.16', output=None, clone_output=True,
         loss=dict(type='OverhaulKDLoss', teacher_channels=128, student_channels=64,
                   feature_layout='bev', margin_source='bn', loss_weight=0.5)),
    dict(name='ofd_2', module='backbone.blocks.2.16', output=None, clone_output=True,
         loss=dict(type='OverhaulKDLoss', teacher_channels=256, student_channels=128,
                   feature_layout='bev', margin_source='bn', loss_weight=1.0)),
]

# Attention-guided + non-local distillation (Zhang & Ma, ICLR 2021) on the SECONDFPN output:
# teacher spatial/channel attention masks (T = 0.5) weight the feature loss, an L1 loss matches
# the masks, non-local relation maps (mmcv NonLocal2d on the map average-pooled by 4) are matched.
kd_attention_nonlocal = [
    dict(
        name='agnl',
        module='neck',
        output=0,
        loss=dict(type='AttentionNonLocalKDLoss', teacher_channels=384, student_channels=192,
                  feature_layout='bev', temperature=0.5, mask_source='teacher',
                  feat_weight=1.0, attn_weight=1.0, nonlocal_weight=1.0, nonlocal_pool=4,
                  nonlocal_reduction=2, loss_weight=1.0)),
]
