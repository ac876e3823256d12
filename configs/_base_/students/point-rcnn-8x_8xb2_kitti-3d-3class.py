# PointRCNN 8x student (KITTI 3-class): every channel width of the stock mmdet3d PointRCNN
# divided by ~sqrt(8) = 2.8 (widths as in the released PointDistiller config
# point_rcnn_2x8_kitti-3d-3classes_student_8x.py; the FP-neck input widths follow from the
# concatenated SA outputs). Paper Table 1: 13.7 GFLOPs, 0.5 M parameters (teacher 104.9, 4.1 M).
_base_ = ['mmdet3d::point_rcnn/point-rcnn_8xb2_kitti-3d-3class.py']

model = dict(
    backbone=dict(
        sa_channels=(((5, 5, 11), (11, 11, 22)), ((22, 22, 45), (22, 34, 45)),
                     ((45, 70, 91), (45, 70, 91)), ((91, 91, 182), (91, 137, 182)))),
    neck=dict(
        fp_channels=((546, 182, 182), (272, 182, 182), (215, 91, 91), (92, 45, 45))),
    rpn_head=dict(
        pred_layer_cfg=dict(
            in_channels=45, cls_linear_channels=(91, 91), reg_linear_channels=(91, 91))),
    roi_head=dict(
        bbox_head=dict(
            mlp_channels=[45, 45],
            sa_channels=((45, 45, 45), (45, 45, 91), (91, 91, 182)),
            pred_layer_cfg=dict(
                in_channels=182, cls_conv_channels=(91, 91), reg_conv_channels=(91, 91)))))
