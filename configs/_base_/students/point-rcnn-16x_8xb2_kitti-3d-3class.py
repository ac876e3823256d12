# PointRCNN 16x student (KITTI 3-class): every channel width of the stock mmdet3d PointRCNN
# divided by sqrt(16) = 4 (widths as in the released PointDistiller config
# point_rcnn_2x8_kitti-3d-3classes_student_16x.py).
# Paper Table 1: 7.1 GFLOPs, 0.3 M parameters (teacher 104.9 GFLOPs, 4.1 M).
_base_ = ['mmdet3d::point_rcnn/point-rcnn_8xb2_kitti-3d-3class.py']

model = dict(
    backbone=dict(
        sa_channels=(((4, 4, 8), (8, 8, 16)), ((16, 16, 32), (16, 24, 32)),
                     ((32, 49, 64), (32, 49, 64)), ((64, 64, 128), (64, 96, 128)))),
    neck=dict(
        fp_channels=((384, 128, 128), (192, 128, 128), (152, 64, 64), (65, 32, 32))),
    rpn_head=dict(
        pred_layer_cfg=dict(
            in_channels=32, cls_linear_channels=(64, 64), reg_linear_channels=(64, 64))),
    roi_head=dict(
        bbox_head=dict(
            mlp_channels=[32, 32],
            sa_channels=((32, 32, 32), (32, 32, 64), (64, 64, 128)),
            pred_layer_cfg=dict(
                in_channels=128, cls_conv_channels=(64, 64), reg_conv_channels=(64, 64)))))
