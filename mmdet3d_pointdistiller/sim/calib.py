"""KITTI calibration of the simulator: coordinate frames, box conversions, image projection.

Every simulated frame uses one real KITTI calibration (:data:`CALIB_TEXT`). This module holds it
and the conversions between the LiDAR frame, the rectified camera frame and image 2 that the
scene, the ray caster, the labeller and the writer share.
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

__all__ = [
    'IMAGE_WIDTH', 'IMAGE_HEIGHT', 'KITTI_LABEL_TYPES', 'TARGET_CLASSES', 'CALIB_TEXT', 'CALIB',
    'lidar_to_camera_points', 'lidar_box_to_camera', 'camera_box_to_lidar',
    'points_in_lidar_boxes', 'lidar_plane_to_camera', 'project_to_image', 'in_image',
    'bbox2d_and_truncation',
]

IMAGE_WIDTH = 1242
IMAGE_HEIGHT = 375
#: Every type name KITTI label files use for 3-D objects (the simulator writes no 'DontCare'
#: regions); the detectors' class lists: utils.kitti_classes.
KITTI_LABEL_TYPES = ('Car', 'Van', 'Truck', 'Pedestrian', 'Person_sitting', 'Cyclist', 'Tram',
                     'Misc')
#: The classes of the 3-class KITTI benchmark.
TARGET_CLASSES = ('Car', 'Pedestrian', 'Cyclist')


# A real KITTI calibration (the one of training frame 000008, recording 2011_09_26): P2 is the
# matrix of the test data's ``kitti_real/000008.txt`` (the folder ``PD_TEST_DATA`` or pytest's
# ``--pd-data`` names); R0_rect, Tr_velo_to_cam, Tr_imu_to_velo and
# P0/P1/P3 are those of the same frame's mmdet3d info (``000008.pkl``), written with KITTI's
# 7 significant digits. tests/test_sim_kitti.py checks both.
_CALIB_VALUES = {
    'P0': '7.215377e+02 0.000000e+00 6.095593e+02 0.000000e+00 0.000000e+00 7.215377e+02 '
          '1.728540e+02 0.000000e+00 0.000000e+00 0.000000e+00 1.000000e+00 0.000000e+00',
    'P1': '7.215377e+02 0.000000e+00 6.095593e+02 -3.875744e+02 0.000000e+00 7.215377e+02 '
          '1.728540e+02 0.000000e+00 0.000000e+00 0.000000e+00 1.000000e+00 0.000000e+00',
    'P2': '7.215377e+02 0.000000e+00 6.095593e+02 4.485728e+01 0.000000e+00 7.215377e+02 '
          '1.728540e+02 2.163791e-01 0.000000e+00 0.000000e+00 1.000000e+00 2.745884e-03',
    'P3': '7.215377e+02 0.000000e+00 6.095593e+02 -3.395242e+02 0.000000e+00 7.215377e+02 '
          '1.728540e+02 2.199936e+00 0.000000e+00 0.000000e+00 1.000000e+00 2.729905e-03',
    'R0_rect': '9.999239e-01 9.837760e-03 -7.445048e-03 -9.869795e-03 9.999421e-01 '
               '-4.278459e-03 7.402527e-03 4.351614e-03 9.999631e-01',
    'Tr_velo_to_cam': '7.533745e-03 -9.999714e-01 -6.166020e-04 -4.069766e-03 1.480249e-02 '
                      '7.280733e-04 -9.998902e-01 -7.631618e-02 9.998621e-01 7.523790e-03 '
                      '1.480755e-02 -2.717806e-01',
    'Tr_imu_to_velo': '9.999976e-01 7.553071e-04 -2.035826e-03 -8.086759e-01 -7.854027e-04 '
                      '9.998898e-01 -1.482298e-02 3.195559e-01 2.024406e-03 1.482454e-02 '
                      '9.998881e-01 -7.997231e-01',
}
#: The calibration file written for every frame (KITTI's 7 lines, the order mmdet3d parses).
CALIB_TEXT = ''.join(f'{k}: {v}\n' for k, v in _CALIB_VALUES.items()) + '\n'


def _calib_matrices() -> Dict[str, np.ndarray]:
    """The 4x4 float64 matrices of :data:`_CALIB_VALUES` (3x4 padded, R0_rect 3x3 padded)."""
    out = {}
    for key, text in _CALIB_VALUES.items():
        vals = np.array([float(v) for v in text.split()], dtype=np.float64)
        mat = np.eye(4)
        if key == 'R0_rect':
            mat[:3, :3] = vals.reshape(3, 3)
        else:
            mat[:3, :4] = vals.reshape(3, 4)
        out[key] = mat
    return out


#: 4x4 float64 calibration matrices (P0..P3 extended with [0, 0, 0, 1], R0_rect padded).
CALIB: Dict[str, np.ndarray] = _calib_matrices()
_LIDAR2CAM = CALIB['R0_rect'] @ CALIB['Tr_velo_to_cam']  # (4, 4) rectified camera <- LiDAR
_CAM2LIDAR = np.linalg.inv(_LIDAR2CAM)
_P2 = CALIB['P2']


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Wrap angles to [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


def lidar_to_camera_points(points: np.ndarray) -> np.ndarray:
    """(N, 3) LiDAR points -> (N, 3) rectified camera coordinates (``R0_rect @ Tr_velo_to_cam``)."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ _LIDAR2CAM[:3, :3].T + _LIDAR2CAM[:3, 3]


def lidar_box_to_camera(boxes: np.ndarray) -> np.ndarray:
    """LiDAR boxes (N, 7) ``x, y, z_bottom, l, w, h, yaw`` -> camera boxes (N, 7)
    ``x, y, z, l, h, w, ry`` (KITTI label convention, bottom centre), the same mapping as
    mmdet3d's ``LiDARInstance3DBoxes.convert_to(CAM, R0_rect @ Tr_velo_to_cam)``."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
    loc = lidar_to_camera_points(boxes[:, :3])
    ry = _wrap(-boxes[:, 6] - np.pi / 2)
    return np.concatenate([loc, boxes[:, 3:4], boxes[:, 5:6], boxes[:, 4:5], ry[:, None]], 1)


def camera_box_to_lidar(boxes: np.ndarray) -> np.ndarray:
    """Camera boxes (N, 7) ``x, y, z, l, h, w, ry`` -> LiDAR boxes (N, 7)
    ``x, y, z_bottom, l, w, h, yaw``; the inverse of :func:`lidar_box_to_camera` and the same
    mapping as mmdet3d's ``CameraInstance3DBoxes.convert_to(LIDAR, inv(lidar2cam))``."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
    loc = boxes[:, :3] @ _CAM2LIDAR[:3, :3].T + _CAM2LIDAR[:3, 3]
    yaw = _wrap(-boxes[:, 6] - np.pi / 2)
    return np.concatenate([loc, boxes[:, 3:4], boxes[:, 5:6], boxes[:, 4:5], yaw[:, None]], 1)


def points_in_lidar_boxes(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Membership mask (N, M) of (N, 3+) LiDAR points in (M, 7) LiDAR boxes
    ``x, y, z_bottom, l, w, h, yaw`` (closed intervals, like mmdet3d's ``points_in_rbbox``)."""
    pts = np.asarray(points, dtype=np.float64)[:, None, :3]
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)[None]
    dx = pts[..., 0] - boxes[..., 0]
    dy = pts[..., 1] - boxes[..., 1]
    c, s = np.cos(boxes[..., 6]), np.sin(boxes[..., 6])
    lx = c * dx + s * dy
    ly = -s * dx + c * dy
    lz = pts[..., 2] - boxes[..., 2]
    return ((np.abs(lx) <= boxes[..., 3] / 2) & (np.abs(ly) <= boxes[..., 4] / 2)
            & (lz >= 0) & (lz <= boxes[..., 5]))


def lidar_plane_to_camera(plane: np.ndarray) -> np.ndarray:
    """(4,) LiDAR plane ``n . p + d = 0`` -> (4,) plane in the rectified camera frame, the
    layout of KITTI's ``planes/%06d.txt`` (normal pointing up, i.e. ``b < 0``); mmdet3d's
    ``KittiDataset`` applies the inverse when it reads ``info['plane']``."""
    n, d = np.asarray(plane[:3], dtype=np.float64), float(plane[3])
    n_c = _LIDAR2CAM[:3, :3] @ n
    p_c = _LIDAR2CAM[:3, :3] @ (-n * d) + _LIDAR2CAM[:3, 3]
    scale = np.linalg.norm(n_c)
    return np.concatenate([n_c, [-n_c @ p_c]]) / scale


def project_to_image(xyz: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 3) LiDAR points -> (u, v, depth) in image 2 (depth = rectified camera z)."""
    cam = lidar_to_camera_points(xyz)
    img = cam @ _P2[:3, :3].T + _P2[:3, 3]
    depth = img[:, 2]
    with np.errstate(divide='ignore', invalid='ignore'):
        u = img[:, 0] / depth
        v = img[:, 1] / depth
    return u, v, cam[:, 2]


def in_image(xyz: np.ndarray) -> np.ndarray:
    """Mask (N,) of (N, 3) LiDAR points in front of camera 2 that project into its image."""
    u, v, z = project_to_image(xyz)
    return (z > 0.001) & (u >= 0) & (u < IMAGE_WIDTH) & (v >= 0) & (v < IMAGE_HEIGHT)


_BOX_EDGES = np.array([[0, 1], [1, 2], [2, 3], [3, 0], [4, 5], [5, 6], [6, 7], [7, 4],
                       [0, 4], [1, 5], [2, 6], [3, 7]])


def _camera_corners(cam_boxes: np.ndarray) -> np.ndarray:
    """(K, 7) camera boxes ``x, y, z, l, h, w, ry`` -> (K, 8, 3) corners (KITTI devkit order)."""
    l, h, w, ry = cam_boxes[:, 3], cam_boxes[:, 4], cam_boxes[:, 5], cam_boxes[:, 6]
    xs = np.array([0.5, 0.5, -0.5, -0.5, 0.5, 0.5, -0.5, -0.5])[None] * l[:, None]
    ys = np.array([0, 0, 0, 0, -1, -1, -1, -1.0])[None] * h[:, None]
    zs = np.array([0.5, -0.5, -0.5, 0.5, 0.5, -0.5, -0.5, 0.5])[None] * w[:, None]
    c, s = np.cos(ry)[:, None], np.sin(ry)[:, None]
    x = c * xs + s * zs + cam_boxes[:, 0:1]
    z = -s * xs + c * zs + cam_boxes[:, 2:3]
    y = ys + cam_boxes[:, 1:2]
    return np.stack([x, y, z], -1)


def bbox2d_and_truncation(cam_boxes: np.ndarray, near: float = 0.1
                          ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image-2 boxes of camera boxes.

    Args:
        cam_boxes: (K, 7) ``x, y, z, l, h, w, ry`` (rectified camera frame, bottom centre).
        near: near-plane depth (m) the box edges are clipped at before projection.

    Returns:
        tuple: ``(bbox (K, 4) left, top, right, bottom clipped to the image, truncation (K,)
        = 1 - clipped / unclipped area, visible (K,) bool: some part in front of the camera and
        a clipped box of positive size)``.
    """
    k = cam_boxes.shape[0]
    if k == 0:
        return np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=bool)
    corners = _camera_corners(cam_boxes)  # (K, 8, 3)
    a = corners[:, _BOX_EDGES[:, 0]]
    b = corners[:, _BOX_EDGES[:, 1]]
    za, zb = a[..., 2], b[..., 2]
    cross = (za - near) * (zb - near) < 0
    tt = np.where(cross, (near - za) / np.where(cross, zb - za, 1.0), 0.0)
    xing = a + tt[..., None] * (b - a)
    pts = np.concatenate([corners, xing], 1)  # (K, 20, 3)
    valid = np.concatenate([corners[..., 2] >= near, cross], 1)
    uvw = pts @ _P2[:3, :3].T + _P2[:3, 3]
    depth = np.where(valid, uvw[..., 2], 1.0)
    u = uvw[..., 0] / depth
    v = uvw[..., 1] / depth
    big = 1e9
    u_lo = np.where(valid, u, big).min(1)
    u_hi = np.where(valid, u, -big).max(1)
    v_lo = np.where(valid, v, big).min(1)
    v_hi = np.where(valid, v, -big).max(1)
    any_valid = valid.any(1)
    cu_lo = np.clip(u_lo, 0, IMAGE_WIDTH - 1)
    cu_hi = np.clip(u_hi, 0, IMAGE_WIDTH - 1)
    cv_lo = np.clip(v_lo, 0, IMAGE_HEIGHT - 1)
    cv_hi = np.clip(v_hi, 0, IMAGE_HEIGHT - 1)
    area = np.maximum(u_hi - u_lo, 1e-9) * np.maximum(v_hi - v_lo, 1e-9)
    carea = np.maximum(cu_hi - cu_lo, 0) * np.maximum(cv_hi - cv_lo, 0)
    visible = any_valid & (cu_hi - cu_lo >= 1.0) & (cv_hi - cv_lo >= 1.0)
    trunc = np.clip(1.0 - carea / area, 0.0, 1.0)
    bbox = np.stack([cu_lo, cv_lo, cu_hi, cv_hi], 1)
    return bbox, np.where(visible, trunc, 1.0), visible
