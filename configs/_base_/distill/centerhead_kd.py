# Head distillation for CenterPoint students (CenterHeadDistillLoss,
# mmdet3d_pointdistiller/models/losses/centerhead_distill_loss.py), shared by the nuScenes and the
# simulated-dataset CenterPoint distillation bases; defines only the tap and the loss. The
# teacher's heatmaps are soft targets (quality-focal form), its box maps are imitated at its
# heatmap peaks (CenterPoint's decoding rule: local 3 x 3 maxima above its score threshold
# 0.1); the weights are those of CenterPoint's own losses (focal 1, L1 0.25).
pd_head_tap = dict(name='centerhead', module='pts_bbox_head', output=None)
pd_head_loss = dict(
    type='CenterHeadDistillLoss',
    feature_layout='head',
    heatmap_loss='focal',
    heatmap_weight=1.0,
    reg_weight=0.25,
    peak_thr=0.1,
    peak_kernel=3,
    loss_weight=1.0)
