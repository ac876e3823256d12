# SECOND 16x student (KITTI 3-class): every channel width of the stock mmdet3d SECOND divided
# by sqrt(16) = 4 (PointDistiller, CVPR 2023, Sec. 4.1): sparse encoder 16/128 -> 4/32 (BEV 256
# -> 64), 2-D backbone [128, 256] -> [32, 64], SECONDFPN [256, 256] -> [64, 64].
# Paper Table 1: 4.6 GFLOPs, 0.4 M parameters (teacher 69.8 GFLOPs, 5.3 M).
_base_ = ['mmdet3d::second/second_hv_secfpn_8xb6-80e_kitti-3d-3class.py']

model = dict(
    middle_encoder=dict(
        base_channels=4,
        output_channels=32,
        encoder_channels=((4, ), (8, 8, 8), (16, 16, 16), (16, 16, 16))),
    backbone=dict(in_channels=64, out_channels=[32, 64]),
    neck=dict(in_channels=[32, 64], out_channels=[64, 64]),
    bbox_head=dict(in_channels=128, feat_channels=128))
