# SECOND 4x student (KITTI 3-class): every channel width of the stock mmdet3d SECOND divided by
# sqrt(4) = 2 (PointDistiller, CVPR 2023, Sec. 4.1): sparse encoder 16/128 -> 8/64 (BEV 256 ->
# 128), 2-D backbone [128, 256] -> [64, 128], SECONDFPN [256, 256] -> [128, 128].
# Paper Table 1: 17.8 GFLOPs, 1.4 M parameters (teacher 69.8 GFLOPs, 5.3 M).
_base_ = ['mmdet3d::second/second_hv_secfpn_8xb6-80e_kitti-3d-3class.py']

model = dict(
    middle_encoder=dict(
        base_channels=8,
        output_channels=64,
        encoder_channels=((8, ), (16, 16, 16), (32, 32, 32), (32, 32, 32))),
    backbone=dict(in_channels=128, out_channels=[64, 128]),
    neck=dict(in_channels=[64, 128], out_channels=[128, 128]),
    bbox_head=dict(in_channels=256, feat_channels=256))
