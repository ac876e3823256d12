"""Simulated KITTI-format LiDAR dataset: a ray-casting 64-beam sensor in procedural street scenes.

KITTI itself cannot be downloaded on every machine, so the project generates its own dataset in
KITTI's folder layout and file formats; mmdet3d's stock converter
(``mim run mmdet3d create_data kitti``), its pipelines (``ObjectSample`` included) and
``KittiMetric`` run on it unchanged.

Sensor
    A spinning Velodyne HDL-64E as mounted on the KITTI car: 64 beams in two blocks (32 beams
    from +2.0 deg to -8.33 deg, 32 beams from -8.83 deg to -24.8 deg), an azimuth step of
    ``LidarSpec.az_step_deg`` (0.17 deg by default; the real KITTI frames have ~0.18 deg at 10 Hz),
    a random azimuth phase per frame, the sensor 1.73 m above the ground. Only the rays of the
    front sector (+-45 deg) are cast and only points that project into the 1242x375 image of
    camera 2 are kept, like KITTI's reduced clouds.

Scene
    A straight road (random heading, 1-2 lanes per direction, optional parking lanes) with raised
    sidewalks, traffic in the lanes, parked rows along the curbs, pedestrians on the sidewalks
    (sometimes crossing), cyclists at the lane edges, and clutter that makes hard negatives:
    building facades, walls, hedges, houses, poles with signs, trees, bushes, bins, bollards,
    parked bicycles, bus shelters; vans, trucks, trams and trailers are labelled with KITTI's
    non-target classes ('Van', 'Truck', 'Tram', 'Misc'). Three scene styles (city, residential,
    road) change the densities. Every object is a union of primitive parts (yawed boxes, vertical
    cylinders, spheroids) that lie inside its label box, inset by ``LidarSpec.part_margin``.

Ray casting
    Vectorised in numpy: each part is culled to the (beam, azimuth) index window that its angular
    bounds cover, all (ray, part) pairs of a primitive type are intersected at once (slab test,
    quadratic), the nearest hit per ray wins (occlusion). The ground is a mildly sloped plane with
    smooth roughness. Returns get Gaussian range noise (clipped, so a point never leaves the inset
    margin of its object), dropout (base rate + material + grazing incidence + range) and an
    intensity from the surface albedo, the incidence angle and the range, quantised to 0.01.

Labels
    KITTI ``label_2`` lines in camera coordinates for objects whose projected box is inside the
    image and whose centre is at most ``LidarSpec.label_range`` (70.4 m, the forward limit of
    mmdet3d's ``KittiMetric``) ahead of the sensor: the 2D box from projecting
    the 3D corners with P2 (near-plane clipped, then clipped to the image), ``truncated`` =
    1 - clipped/unclipped 2D area, ``occluded`` from the fraction of the object's rays (inside the
    image) whose nearest hit belongs to something else (0: <= 15 %, 1: <= 60 %, 2: more, 3: no
    ray met it), ``alpha`` = ry - atan2(x, z). Completely hidden objects get no label. No
    ``DontCare`` lines are written: mmdet3d 1.4's ``update_kitti_infos`` records ignored class
    names from the last frame of a split only, so a split whose last frame lacks 'DontCare'
    makes ``KittiMetric`` fail with ``KeyError: -1``; beyond ``label_range`` the metric drops
    predictions anyway. The sampled
    boxes are rounded to the label precision (0.01 m, 0.01 rad) *before* the geometry is built,
    so the written label is exactly the box the points were cast against.

Determinism
    Frame ``i`` of a dataset with seed ``S`` is drawn from ``np.random.default_rng([S, i])``:
    identical bytes for identical ``(S, i, LidarSpec)``, independent of how many frames are made.

Usage: ``tools/simulate_kitti.py --out data/sim_kitti --num-train N --num-val M --seed S``.
"""
from __future__ import annotations

import io
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    'IMAGE_WIDTH', 'IMAGE_HEIGHT', 'KITTI_CLASSES', 'TARGET_CLASSES', 'CALIB_TEXT', 'CALIB',
    'LidarSpec', 'SceneObject', 'KittiLabel', 'SimFrame', 'simulate_frame', 'write_frame',
    'write_image_sets', 'write_testing_split', 'lidar_plane_to_camera', 'generate_dataset',
    'mmdet3d_mim_root', 'lidar_box_to_camera', 'camera_box_to_lidar',
    'lidar_to_camera_points', 'points_in_lidar_boxes', 'format_label_line', 'placeholder_png',
]

IMAGE_WIDTH = 1242
IMAGE_HEIGHT = 375
#: Every class KITTI annotates in 3D (the simulator writes no 'DontCare' regions).
KITTI_CLASSES = ('Car', 'Van', 'Truck', 'Pedestrian', 'Person_sitting', 'Cyclist', 'Tram', 'Misc')
#: The classes of the 3-class KITTI benchmark.
TARGET_CLASSES = ('Car', 'Pedestrian', 'Cyclist')

GROUND_ID = -1  #: object id of ground returns in :attr:`SimFrame.point_obj`

# A real KITTI calibration (the one of training frame 000008, recording 2011_09_26): P2 is the
# matrix of ``shared/data/kitti_real/000008.txt``; R0_rect, Tr_velo_to_cam, Tr_imu_to_velo and
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


def _wrap(angle):
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


# --------------------------------------------------------------------------------------------
# Sensor
# --------------------------------------------------------------------------------------------
def hdl64e_elevations() -> np.ndarray:
    """(64,) beam elevations in degrees, ascending: HDL-64E's lower block (32 beams, -24.8 to
    -8.83 deg) and upper block (32 beams, -8.33 to +2.0 deg)."""
    lower = np.linspace(-24.8, -8.83, 32)
    upper = np.linspace(-8.33, 2.0, 32)
    return np.concatenate([lower, upper])


@dataclass(frozen=True)
class LidarSpec:
    """Sensor, noise and labelling parameters of the simulator.

    Attributes:
        az_step_deg: azimuth step of one firing (deg). 0.17 ~ HDL-64E at 10 Hz.
        az_half_fov_deg: rays are cast for azimuths in [-half, +half] (the camera sees +-40.2).
        sensor_height: height of the LiDAR above the ground at the origin (m).
        max_range: returns beyond this range (m) are lost.
        range_noise_std / range_noise_clip: Gaussian range noise and its clip (m).
        dropout: base probability that a return is lost.
        part_margin: inset (m) of every part from its object's label box; must exceed
            ``range_noise_clip`` so that noisy points stay in their box.
        label_range: objects whose centre is farther ahead (LiDAR x, m) get no label; 70.4 is
            the forward limit of ``KittiMetric``'s ``pcd_limit_range``.
        elevations_deg: beam elevations (deg, ascending); default HDL-64E.
    """

    az_step_deg: float = 0.17
    az_half_fov_deg: float = 45.0
    sensor_height: float = 1.73
    max_range: float = 100.0
    range_noise_std: float = 0.02
    range_noise_clip: float = 0.04
    dropout: float = 0.03
    part_margin: float = 0.05
    label_range: float = 70.4
    elevations_deg: Tuple[float, ...] = field(
        default_factory=lambda: tuple(float(v) for v in hdl64e_elevations()))

    def __post_init__(self):
        if not 0.01 <= self.az_step_deg <= 2.0:
            raise ValueError(f'LidarSpec.az_step_deg must be in [0.01, 2], got {self.az_step_deg}')
        if self.part_margin <= self.range_noise_clip:
            raise ValueError('LidarSpec.part_margin must exceed LidarSpec.range_noise_clip, got '
                             f'{self.part_margin} <= {self.range_noise_clip}')
        if list(self.elevations_deg) != sorted(self.elevations_deg):
            raise ValueError('LidarSpec.elevations_deg must be ascending')

    @property
    def num_azimuths(self) -> int:
        return int(round(2 * self.az_half_fov_deg / self.az_step_deg))


# --------------------------------------------------------------------------------------------
# Scene description
# --------------------------------------------------------------------------------------------
@dataclass
class SceneObject:
    """One object of a scene.

    Attributes:
        index: position in :attr:`SimFrame.objects` (the id used in ``point_obj``).
        kind: 'car', 'pedestrian', 'building', 'pole', 'sidewalk', ...
        kitti_class: KITTI label class or None for unlabelled clutter.
        box: (7,) LiDAR box ``x, y, z_bottom, l, w, h, yaw`` enclosing every part (for KITTI
            classes rounded to label precision).
    """

    index: int
    kind: str
    kitti_class: Optional[str]
    box: np.ndarray


@dataclass
class KittiLabel:
    """One line of a KITTI ``label_2`` file plus the simulator's bookkeeping.

    ``obj`` is the index of the object in :attr:`SimFrame.objects` (-1 for nothing), ``num_points``
    the number of returns attributed to it, ``lidar_box`` its (7,) LiDAR box, ``visible_frac``
    the fraction of its in-image rays that reach it first.
    """

    type: str
    truncated: float
    occluded: int
    alpha: float
    bbox: Tuple[float, float, float, float]
    dimensions: Tuple[float, float, float]  # h, w, l
    location: Tuple[float, float, float]  # camera frame, bottom centre
    rotation_y: float
    obj: int = -1
    num_points: int = 0
    lidar_box: Optional[np.ndarray] = None
    visible_frac: float = 1.0


@dataclass
class SimFrame:
    """A simulated frame.

    Attributes:
        points: (N, 4) float32 ``x, y, z, intensity`` in the LiDAR frame, all inside the image.
        point_obj: (N,) int32 object index of each return (:data:`GROUND_ID` for the ground).
        objects: every object of the scene.
        labels: KITTI labels, nearest first.
        scene_type: 'city', 'residential' or 'road'.
        plane: (4,) ground plane ``a, b, c, d`` (``n . p + d = 0``, unit normal pointing up) in
            the LiDAR frame, without the roughness.
    """

    points: np.ndarray
    point_obj: np.ndarray
    objects: List[SceneObject]
    labels: List[KittiLabel]
    scene_type: str
    plane: np.ndarray


def lidar_plane_to_camera(plane: np.ndarray) -> np.ndarray:
    """(4,) LiDAR plane ``n . p + d = 0`` -> (4,) plane in the rectified camera frame, the
    layout of KITTI's ``planes/%06d.txt`` (normal pointing up, i.e. ``b < 0``); mmdet3d's
    ``KittiDataset`` applies the inverse when it reads ``info['plane']``."""
    n, d = np.asarray(plane[:3], dtype=np.float64), float(plane[3])
    n_c = _LIDAR2CAM[:3, :3] @ n
    p_c = _LIDAR2CAM[:3, :3] @ (-n * d) + _LIDAR2CAM[:3, 3]
    scale = np.linalg.norm(n_c)
    return np.concatenate([n_c, [-n_c @ p_c]]) / scale


_DIMS = {  # class: (mean l, w, h), (std l, w, h) -- KITTI training-set statistics
    'Car': ((3.90, 1.60, 1.56), (0.42, 0.10, 0.14)),
    'Van': ((5.08, 1.90, 2.21), (0.55, 0.15, 0.28)),
    'Truck': ((10.1, 2.59, 3.25), (2.20, 0.20, 0.40)),
    'Tram': ((16.0, 2.54, 3.53), (1.50, 0.10, 0.15)),
    'Misc': ((3.20, 1.50, 1.60), (1.00, 0.30, 0.40)),
    'Pedestrian': ((0.80, 0.60, 1.73), (0.20, 0.12, 0.10)),
    'Person_sitting': ((0.80, 0.55, 1.27), (0.15, 0.08, 0.10)),
    'Cyclist': ((1.76, 0.60, 1.73), (0.18, 0.10, 0.09)),
}
_DIM_MIN = {'Car': (3.0, 1.4, 1.3), 'Van': (4.2, 1.7, 1.8), 'Truck': (6.0, 2.2, 2.5),
            'Tram': (13.0, 2.3, 3.2), 'Misc': (1.5, 0.8, 0.9), 'Pedestrian': (0.4, 0.35, 1.45),
            'Person_sitting': (0.5, 0.4, 1.0), 'Cyclist': (1.4, 0.4, 1.5)}


class _SceneBuilder:
    """Procedural street scene: objects and their primitive parts in the LiDAR frame."""

    def __init__(self, rng: np.random.Generator, spec: LidarSpec):
        self.rng = rng
        self.spec = spec
        self.objects: List[SceneObject] = []
        self.box_rows: List[tuple] = []  # cx, cy, cz, hx, hy, hz, yaw, obj, albedo, drop
        self.cyl_rows: List[tuple] = []  # cx, cy, z0, z1, r, obj, albedo, drop
        self.ell_rows: List[tuple] = []  # cx, cy, cz, rxy, rz, obj, albedo, drop
        self.bands: Dict[str, List[Tuple[float, float]]] = {}
        # ground: z = z0 + gx*x + gy*y + sum_k a_k sin(kx_k x + ky_k y + ph_k)
        self.g0 = -spec.sensor_height
        self.gx = float(np.clip(rng.normal(0, 0.008), -0.02, 0.02))
        self.gy = float(np.clip(rng.normal(0, 0.005), -0.015, 0.015))
        wl = rng.uniform(3.0, 25.0, 3)
        ang = rng.uniform(0, 2 * np.pi, 3)
        self.rough_kx = 2 * np.pi / wl * np.cos(ang)
        self.rough_ky = 2 * np.pi / wl * np.sin(ang)
        self.rough_a = rng.uniform(0.002, 0.008, 3)
        self.rough_ph = rng.uniform(0, 2 * np.pi, 3)

    # ---------------------------------------------------------------- ground & road frame
    def ground_z(self, x, y):
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        z = self.g0 + self.gx * x + self.gy * y
        for kx, ky, a, ph in zip(self.rough_kx, self.rough_ky, self.rough_a, self.rough_ph):
            z = z + a * np.sin(kx * x + ky * y + ph)
        return z

    def to_lidar(self, s: float, u: float) -> Tuple[float, float]:
        du = u - self.u_ego
        return (s * self.cpsi - du * self.spsi, s * self.spsi + du * self.cpsi)

    def to_road(self, x, y):
        s = x * self.cpsi + y * self.spsi
        u = -x * self.spsi + y * self.cpsi + self.u_ego
        return s, u

    def reserve(self, band: str, s0: float, s1: float) -> bool:
        """Claim the interval [s0, s1] of a placement band; False if it overlaps a claim."""
        claims = self.bands.setdefault(band, [])
        for a, b in claims:
            if s0 < b and a < s1:
                return False
        claims.append((s0, s1))
        return True

    # ---------------------------------------------------------------- objects and parts
    def dims(self, cls: str) -> Tuple[float, float, float]:
        mean, std = _DIMS[cls]
        lo = _DIM_MIN[cls]
        out = []
        for m, s, mn in zip(mean, std, lo):
            v = m + s * float(np.clip(self.rng.standard_normal(), -2.5, 2.5))
            out.append(max(v, mn))
        return tuple(out)

    def add_object(self, kind: str, kitti_class: Optional[str], s: float, u: float,
                   l: float, w: float, h: float, yaw_rel: float, z_offset: float = 0.0) -> int:
        x, y = self.to_lidar(s, u)
        zb = self.surface_z(s, u) + z_offset
        box = np.array([x, y, zb, l, w, h, _wrap(self.psi + yaw_rel)], dtype=np.float64)
        if kitti_class is not None:  # snap to label precision: the label *is* the geometry
            cam = lidar_box_to_camera(box[None])[0]
            cam = np.round(cam, 2)
            box = camera_box_to_lidar(cam[None])[0]
        idx = len(self.objects)
        self.objects.append(SceneObject(idx, kind, kitti_class, box))
        return idx

    def _local_to_world(self, obj: int, dx: float, dy: float) -> Tuple[float, float]:
        b = self.objects[obj].box
        c, s = math.cos(b[6]), math.sin(b[6])
        return b[0] + c * dx - s * dy, b[1] + s * dx + c * dy

    def _limits(self, obj: int):
        o = self.objects[obj]
        m = self.spec.part_margin if o.kitti_class is not None else 0.0
        l, w, h = o.box[3:6]
        return l / 2 - m, w / 2 - m, m, h - m

    def box(self, obj: int, x0, x1, y0, y1, z0, z1, albedo, drop=0.0):
        """Add a box part given in the object's frame (x along l, y along w, z from bottom)."""
        lx, ly, zlo, zhi = self._limits(obj)
        x0, x1 = max(x0, -lx), min(x1, lx)
        y0, y1 = max(y0, -ly), min(y1, ly)
        z0, z1 = max(z0, zlo), min(z1, zhi)
        if x1 - x0 < 0.01 or y1 - y0 < 0.01 or z1 - z0 < 0.01:
            return
        b = self.objects[obj].box
        cx, cy = self._local_to_world(obj, (x0 + x1) / 2, (y0 + y1) / 2)
        self.box_rows.append((cx, cy, b[2] + (z0 + z1) / 2, (x1 - x0) / 2, (y1 - y0) / 2,
                              (z1 - z0) / 2, b[6], obj, albedo, drop))

    def cyl(self, obj: int, dx, dy, z0, z1, r, albedo, drop=0.0):
        """Add a vertical cylinder part (object frame)."""
        lx, ly, zlo, zhi = self._limits(obj)
        r = min(r, lx - abs(dx), ly - abs(dy))
        z0, z1 = max(z0, zlo), min(z1, zhi)
        if r < 0.01 or z1 - z0 < 0.01:
            return
        b = self.objects[obj].box
        cx, cy = self._local_to_world(obj, dx, dy)
        self.cyl_rows.append((cx, cy, b[2] + z0, b[2] + z1, r, obj, albedo, drop))

    def ell(self, obj: int, dx, dy, zc, rxy, rz, albedo, drop=0.0):
        """Add a spheroid part (horizontal radius ``rxy``, vertical ``rz``; object frame)."""
        lx, ly, zlo, zhi = self._limits(obj)
        rxy = min(rxy, lx - abs(dx), ly - abs(dy))
        rz = min(rz, zc - zlo, zhi - zc)
        if rxy < 0.01 or rz < 0.01:
            return
        b = self.objects[obj].box
        cx, cy = self._local_to_world(obj, dx, dy)
        self.ell_rows.append((cx, cy, b[2] + zc, rxy, rz, obj, albedo, drop))

    # ---------------------------------------------------------------- shapes
    def paint(self) -> float:
        r = self.rng.random()
        if r < 0.3:
            return self.rng.uniform(0.03, 0.12)  # dark paint
        if r < 0.75:
            return self.rng.uniform(0.15, 0.35)
        return self.rng.uniform(0.4, 0.65)  # white / silver

    def shape_car(self, o: int):
        rng = self.rng
        l, w, h = self.objects[o].box[3:6]
        paint = self.paint()
        body_top = h * rng.uniform(0.52, 0.62)
        clear = rng.uniform(0.15, 0.25)
        self.box(o, -l / 2, l / 2, -w / 2, w / 2, clear, body_top, paint)
        cab0 = -l / 2 + l * rng.uniform(0.12, 0.3)  # rear end of the cabin
        cab1 = l / 2 - l * rng.uniform(0.3, 0.42)  # windscreen base
        inset = rng.uniform(0.05, 0.15)
        roof = h - rng.uniform(0.06, 0.1)
        self.box(o, cab0, cab1, -w / 2 + inset, w / 2 - inset, body_top, roof, 0.06, 0.25)
        self.box(o, cab0 + 0.15, cab1 - 0.25, -w / 2 + inset + 0.05, w / 2 - inset - 0.05,
                 roof, h, paint)
        axle = l / 2 - rng.uniform(0.6, 0.9)
        for sx in (-1, 1):
            for y0, y1 in ((w / 2 - 0.22, w / 2), (-w / 2, -w / 2 + 0.22)):
                self.box(o, sx * axle - 0.33, sx * axle + 0.33, y0, y1, 0.0, 0.62, 0.04)

    def shape_van(self, o: int):
        rng = self.rng
        l, w, h = self.objects[o].box[3:6]
        paint = self.paint()
        nose = l / 2 - rng.uniform(0.5, 1.0)
        self.box(o, -l / 2, nose, -w / 2, w / 2, 0.3, h, paint)
        self.box(o, nose, l / 2, -w / 2, w / 2, 0.3, h * 0.5, paint)
        self.box(o, nose - 0.5, nose, -w / 2 + 0.05, w / 2 - 0.05, h * 0.5, h - 0.1, 0.06, 0.25)
        for sx in (-1, 1):
            self.box(o, sx * (l / 2 - 0.9) - 0.35, sx * (l / 2 - 0.9) + 0.35, -w / 2, w / 2,
                     0.0, 0.65, 0.04)

    def shape_truck(self, o: int):
        rng = self.rng
        l, w, h = self.objects[o].box[3:6]
        cab_l = rng.uniform(1.8, 2.4)
        self.box(o, l / 2 - cab_l, l / 2, -w / 2, w / 2, 0.5, h * rng.uniform(0.8, 0.92),
                 self.paint())
        self.box(o, -l / 2, l / 2 - cab_l - 0.3, -w / 2, w / 2, rng.uniform(0.9, 1.2), h,
                 rng.uniform(0.2, 0.6))
        for xw in (l / 2 - 1.2, -l / 2 + 1.5, -l / 2 + 2.8):
            self.box(o, xw - 0.5, xw + 0.5, -w / 2, w / 2, 0.0, 1.0, 0.04)

    def shape_tram(self, o: int):
        l, w, h = self.objects[o].box[3:6]
        self.box(o, -l / 2, l / 2, -w / 2, w / 2, 0.45, h, self.rng.uniform(0.3, 0.6))
        self.box(o, -l / 2 + 0.3, l / 2 - 0.3, -w / 2 + 0.1, w / 2 - 0.1, 0.0, 0.45, 0.1)

    def shape_misc(self, o: int):  # trailers, carts, containers
        rng = self.rng
        l, w, h = self.objects[o].box[3:6]
        base = rng.uniform(0.2, 0.6)
        self.box(o, -l / 2, l / 2, -w / 2, w / 2, base, h, rng.uniform(0.1, 0.6))
        self.box(o, -0.3, 0.3, -w / 2, w / 2, 0.0, base, 0.05)

    def shape_pedestrian(self, o: int, sitting: bool = False):
        rng = self.rng
        l, w, h = self.objects[o].box[3:6]
        cloth = rng.uniform(0.05, 0.5)
        legs = rng.uniform(0.05, 0.5)
        skin = rng.uniform(0.2, 0.45)
        if sitting:
            self.box(o, -l / 2, l / 2, -0.18, 0.18, 0.0, 0.5 * h, legs)
            self.box(o, -l / 2, -l / 2 + 0.35, -w / 2, w / 2, 0.45 * h, 0.85 * h, cloth)
            self.ell(o, -l / 2 + 0.2, 0.0, 0.92 * h, 0.11, 0.12, skin)
            return
        hip = h * rng.uniform(0.45, 0.52)
        stride = rng.uniform(0.0, 0.5) * (l / 2 - 0.12)
        for sx, sy in ((1, 1), (-1, -1)):
            self.box(o, sx * stride - 0.08, sx * stride + 0.08, sy * 0.11 - 0.07,
                     sy * 0.11 + 0.07, 0.0, hip, legs)
        sh = h * 0.82
        self.box(o, -0.14, 0.14, -min(0.22, w / 2), min(0.22, w / 2), hip, sh, cloth)
        swing = rng.uniform(-1, 1) * 0.15
        for sy in (-1, 1):
            self.box(o, sy * swing - 0.05, sy * swing + 0.05, sy * (w / 2) - 0.06,
                     sy * (w / 2) + 0.06, hip - 0.05, sh, cloth)
        head = rng.uniform(0.09, 0.11)
        self.ell(o, 0.0, 0.0, h - head - 0.01, head, head * 1.15, skin)
        if rng.random() < 0.2:  # backpack / bag
            self.box(o, -0.3, -0.12, -0.15, 0.15, hip + 0.15, sh - 0.05, rng.uniform(0.05, 0.4))

    def shape_bike(self, o: int, rider: bool):
        rng = self.rng
        l, w, h = self.objects[o].box[3:6]
        frame = rng.uniform(0.1, 0.6)
        r = 0.34
        for sx in (-1, 1):
            self.box(o, sx * (l / 2 - r) - r, sx * (l / 2 - r) + r, -0.04, 0.04, 0.0, 2 * r, 0.08)
        self.box(o, -l / 2 + r, l / 2 - r, -0.03, 0.03, 0.35, 0.75, frame)
        self.box(o, l / 2 - r - 0.1, l / 2 - r + 0.05, -0.3, 0.3, 0.95, 1.05, frame)  # bars
        if not rider:
            return
        cloth = rng.uniform(0.05, 0.5)
        scale = h / 1.73
        self.box(o, -0.25, 0.05, -0.15, 0.15, 0.45 * scale, 0.95 * scale, cloth)  # legs
        self.box(o, -0.15, 0.15, -w / 2, w / 2, 0.95 * scale, 1.42 * scale, cloth)  # torso
        self.box(o, 0.15, l / 2 - r, -0.2, 0.2, 1.1 * scale, 1.3 * scale, cloth)  # arms
        self.ell(o, 0.1, 0.0, h - 0.13, 0.1, 0.12, rng.uniform(0.2, 0.45))

    def shape_vehicle(self, o: int, cls: str):
        {'Car': self.shape_car, 'Van': self.shape_van, 'Truck': self.shape_truck,
         'Tram': self.shape_tram, 'Misc': self.shape_misc}[cls](o)

    # clutter (unlabelled) ---------------------------------------------------------------
    def pole(self, s, u):
        rng = self.rng
        h = rng.uniform(3.0, 9.0)
        r = rng.uniform(0.05, 0.14)
        o = self.add_object('pole', None, s, u, 1.2, 1.2, h, 0.0)
        self.cyl(o, 0, 0, 0, h, r, rng.uniform(0.3, 0.5))
        if rng.random() < 0.5:  # traffic sign (retro-reflective)
            z = rng.uniform(1.9, 2.8)
            self.box(o, -0.02, 0.02, -0.35, 0.35, z, z + rng.uniform(0.4, 0.7), 0.9)

    def tree(self, s, u):
        rng = self.rng
        rc = rng.uniform(1.0, 3.0)
        trunk = rng.uniform(2.2, 3.5)
        rz = rng.uniform(0.8, 1.3) * rc
        o = self.add_object('tree', None, s, u, 2 * rc, 2 * rc, trunk + 2 * rz, 0.0)
        self.cyl(o, 0, 0, 0, trunk + 0.3, rng.uniform(0.08, 0.25), rng.uniform(0.3, 0.45))
        self.ell(o, 0, 0, trunk + rz, rc, rz, rng.uniform(0.35, 0.55), 0.3)

    def bush(self, s, u, size=None):
        rng = self.rng
        r = rng.uniform(0.3, 1.2) if size is None else size
        rz = r * rng.uniform(0.6, 1.2)
        o = self.add_object('bush', None, s, u, 2 * r, 2 * r, 2 * rz, 0.0, -0.1)
        self.ell(o, 0, 0, rz, r, rz, rng.uniform(0.35, 0.55), 0.2)

    def small_thing(self, kind, s, u):
        rng = self.rng
        z = 0.0
        if kind == 'bin':
            l, w, h = rng.uniform(0.5, 0.8), rng.uniform(0.5, 0.8), rng.uniform(0.9, 1.3)
            o = self.add_object('bin', None, s, u, l, w, h, rng.uniform(-0.3, 0.3), z)
            self.box(o, -l / 2, l / 2, -w / 2, w / 2, 0, h, rng.uniform(0.05, 0.4))
        elif kind == 'bollard':
            h = rng.uniform(0.7, 1.1)
            o = self.add_object('bollard', None, s, u, 0.3, 0.3, h, 0.0, z)
            self.cyl(o, 0, 0, 0, h, rng.uniform(0.06, 0.12), rng.uniform(0.2, 0.6))
        elif kind == 'bike':
            l, w, h = 1.75, 0.6, 1.1
            o = self.add_object('bike', None, s, u, l, w, h, rng.choice([0.0, np.pi / 2, np.pi])
                                + rng.normal(0, 0.2), z)
            self.shape_bike(o, rider=False)
        elif kind == 'shelter':
            l, w, h = rng.uniform(2.5, 5.0), rng.uniform(1.2, 1.8), rng.uniform(2.2, 2.7)
            o = self.add_object('shelter', None, s, u, l, w, h, 0.0, z)
            self.box(o, -l / 2, l / 2, -w / 2, -w / 2 + 0.05, 0, h, 0.15, 0.3)
            self.box(o, -l / 2, l / 2, -w / 2, w / 2, h - 0.1, h, 0.3)
            for sx in (-1, 1):
                self.box(o, sx * l / 2 - 0.05, sx * l / 2 + 0.05, -w / 2, w / 2, 0, h, 0.2, 0.3)
        elif kind == 'post_box':  # pedestrian-sized hard negative
            l, w, h = rng.uniform(0.4, 0.7), rng.uniform(0.3, 0.5), rng.uniform(1.3, 1.8)
            o = self.add_object('box', None, s, u, l, w, h, rng.uniform(-0.3, 0.3), z)
            self.box(o, -l / 2, l / 2, -w / 2, w / 2, 0.0, h, rng.uniform(0.1, 0.6))

    def structure(self, kind, s, u, length, w, h, albedo, z_offset=-0.5, yaw_rel=0.0):
        """An unlabelled solid box (building, wall, hedge) sunk ``-z_offset`` into the ground."""
        o = self.add_object(kind, None, s, u, length, w, h - z_offset, yaw_rel, z_offset)
        self.box(o, -length / 2, length / 2, -w / 2, w / 2, 0.0, h - z_offset, albedo)
        return o

    def surface_z(self, s: float, u: float) -> float:
        """z of the surface objects stand on at road coordinates ``(s, u)``: the top of the
        sidewalk slab there (slabs are flat 10 m segments) or else the ground."""
        for a, b in self.sidewalks.values():
            if a <= u <= b:
                k = min(max(math.floor((s + 10.0) / 10.0), 0), 10)
                x, y = self.to_lidar(-5.0 + 10.0 * k, (a + b) / 2)
                return float(self.ground_z(x, y)) + self.curb
        x, y = self.to_lidar(s, u)
        return float(self.ground_z(x, y))

    # ---------------------------------------------------------------- layout
    def build(self):
        rng = self.rng
        self.scene_type = ('city', 'residential', 'road')[int(rng.choice(3, p=[0.35, 0.45, 0.2]))]
        st = self.scene_type
        self.psi = float(rng.normal(0, 0.04))
        self.cpsi, self.spsi = math.cos(self.psi), math.sin(self.psi)
        lw = rng.uniform(3.0, 3.7)
        n_fwd = int(rng.choice([1, 2], p=[0.6, 0.4]))
        n_opp = int(rng.choice([0, 1, 2], p=[0.15, 0.6, 0.25]))
        ego_lane = int(rng.integers(n_fwd))
        self.u_ego = -(ego_lane + 0.5) * lw + rng.normal(0, 0.2)
        p_park = {'city': 0.6, 'residential': 0.75, 'road': 0.2}[st]
        park_r = rng.random() < p_park
        park_l = rng.random() < p_park
        park_w = rng.uniform(2.0, 2.5)
        u_r = -n_fwd * lw - (park_w if park_r else 0.0)
        u_l = n_opp * lw + (park_w if park_l else 0.0)
        sw_range = {'city': (2.5, 5.0), 'residential': (1.5, 3.0), 'road': (0.0, 0.0)}[st]
        sw = {side: (rng.uniform(*sw_range) if rng.random() < 0.95 else 0.0) for side in (-1, 1)}
        self.curb = curb = rng.uniform(0.08, 0.16)
        edge = {-1: u_r, 1: u_l}
        self.sidewalks = {}
        for side in (-1, 1):
            if sw[side] > 0:
                self.sidewalks[side] = tuple(sorted((edge[side], edge[side] + side * sw[side])))
        self.road_geom = dict(lw=lw, n_fwd=n_fwd, n_opp=n_opp, u_r=u_r, u_l=u_l,
                              asphalt=rng.uniform(0.35, 0.5), terrain=rng.uniform(0.3, 0.55),
                              dash=rng.uniform(8.0, 14.0))
        s_min, s_max = -8.0, 88.0

        # sidewalk slabs, 10 m segments that follow the ground
        for side in (-1, 1):
            if sw[side] <= 0:
                continue
            alb = rng.uniform(0.3, 0.45)
            for s0 in np.arange(-10.0, 100.0, 10.0):
                o = self.add_object('sidewalk', None, s0 + 5.0, edge[side] + side * sw[side] / 2,
                                    10.0, sw[side], curb + 0.3, 0.0, -(curb + 0.3))
                self.box(o, -5.0, 5.0, -sw[side] / 2, sw[side] / 2, 0.0, curb + 0.3, alb)

        # parked rows
        for side, on in ((-1, park_r), (1, park_l)):
            if not on:
                continue
            fill = rng.uniform(0.15, 0.75)
            u_c = edge[side] - side * park_w / 2
            flip = side == 1 and n_opp == 0  # one-way street: both rows face forward
            s = s_min + rng.uniform(0, 4)
            while s < s_max:
                if rng.random() > fill:
                    s += rng.uniform(2.0, 8.0)
                    continue
                r = rng.random()
                cls = 'Car' if r < 0.86 else 'Van' if r < 0.94 else 'Misc' if r < 0.97 else 'Truck'
                l, w, h = self.dims(cls)
                w = min(w, park_w - 0.1)
                yaw = (0.0 if side == -1 or flip else np.pi) + rng.normal(0, 0.03)
                if rng.random() < 0.1:
                    yaw += np.pi
                o = self.add_object(cls.lower(), cls, s + l / 2,
                                    u_c + rng.normal(0, 0.12), l, w, h, yaw)
                self.shape_vehicle(o, cls)
                self.reserve(f'park{side}', s, s + l)
                s += l + rng.uniform(0.5, 2.5)

        # traffic
        density = rng.uniform(0.0, 1.0) * {'city': 1.0, 'residential': 0.6, 'road': 0.8}[st]
        lanes = [(-(k + 0.5) * lw, 0.0) for k in range(n_fwd)] + \
                [((k + 0.5) * lw, np.pi) for k in range(n_opp)]
        for k, (u_c, yaw0) in enumerate(lanes):
            band = f'lane{k}'
            if k == ego_lane:
                self.reserve(band, -7.0, 6.0)
            s = s_min + rng.uniform(0, 20)
            while s < s_max:
                r = rng.random()
                cls = ('Car' if r < 0.85 else 'Van' if r < 0.93 else 'Truck' if r < 0.99
                       or st != 'city' else 'Tram')
                l, w, h = self.dims(cls)
                if self.reserve(band, s, s + l):
                    o = self.add_object(cls.lower(), cls, s + l / 2, u_c + rng.normal(0, 0.25),
                                        l, w, h, yaw0 + rng.normal(0, 0.02))
                    self.shape_vehicle(o, cls)
                s += l + rng.uniform(4.0, 12.0) + rng.exponential(60.0 * (1.05 - density))

        # cyclists at the outer lane edges (and a few on sidewalks below)
        n_cyc = rng.poisson({'city': 1.6, 'residential': 1.3, 'road': 0.7}[st])
        for _ in range(n_cyc):
            k = int(rng.integers(len(lanes)))
            u_c, yaw0 = lanes[k]
            outer = -1 if yaw0 == 0.0 else 1
            u = u_c + outer * (lw / 2 - 0.6)
            l, w, h = self.dims('Cyclist')
            s = rng.uniform(3.0, 45.0) if rng.random() < 0.8 else rng.uniform(45.0, 70.0)
            if self.reserve(f'lane{k}', s - 1.0, s + l + 1.0):
                o = self.add_object('cyclist', 'Cyclist', s + l / 2, u, l, w, h,
                                    yaw0 + rng.normal(0, 0.08))
                self.shape_bike(o, rider=True)

        # crossing pedestrians
        if rng.random() < {'city': 0.35, 'residential': 0.15, 'road': 0.03}[st]:
            k = int(rng.integers(len(lanes)))
            s = rng.uniform(8.0, 45.0)
            for j in range(int(rng.integers(1, 4))):
                l, w, h = self.dims('Pedestrian')
                sj = s + j * 1.1
                if self.reserve(f'lane{k}', sj - 0.6, sj + 0.6):
                    u = lanes[k][0] + rng.uniform(-1.0, 1.0)
                    o = self.add_object('pedestrian', 'Pedestrian', sj, u, l, w, h,
                                        rng.choice([-1, 1]) * np.pi / 2 + rng.normal(0, 0.2))
                    self.shape_pedestrian(o)

        # sidewalks: furniture band near the curb, walking band, frontage
        for side in (-1, 1):
            wdt = sw[side]
            e = edge[side]
            out = side  # +u is outward on the left side, -u on the right side
            if wdt > 0:
                # street furniture
                s = s_min + rng.uniform(0, 10)
                while s < s_max:
                    u = e + out * rng.uniform(0.35, 0.6)
                    r = rng.random()
                    if st == 'residential' and r < 0.35:
                        if self.reserve(f'furn{side}', s - 1.5, s + 1.5):
                            self.tree(s, u)
                    elif r < 0.55:
                        if self.reserve(f'furn{side}', s - 0.5, s + 0.5):
                            self.pole(s, u)
                    elif r < 0.68:
                        if self.reserve(f'furn{side}', s - 0.5, s + 0.5):
                            self.small_thing('bin', s, u)
                    elif r < 0.78:
                        for j in range(int(rng.integers(1, 5))):
                            sj = s + j * 1.5
                            if self.reserve(f'furn{side}', sj - 0.3, sj + 0.3):
                                self.small_thing('bollard', sj, u)
                    elif r < 0.88:
                        if self.reserve(f'furn{side}', s - 1.0, s + 1.0):
                            self.small_thing('bike', s, u + out * 0.3)
                    elif r < 0.93 and wdt > 2.5:
                        if self.reserve(f'furn{side}', s - 3.0, s + 3.0):
                            self.small_thing('shelter', s, e + out * (wdt - 1.0))
                    elif r < 0.97:
                        if self.reserve(f'furn{side}', s - 0.5, s + 0.5):
                            self.small_thing('post_box', s, u)
                    s += rng.uniform(4.0, 16.0)
                # pedestrians
                lam = {'city': 3.5, 'residential': 1.3, 'road': 0.3}[st]
                n_groups = rng.poisson(lam)
                for _ in range(n_groups):
                    s = rng.uniform(2.0, 45.0) if rng.random() < 0.75 else rng.uniform(45.0, 75.0)
                    yaw_g = (0.0 if rng.random() < 0.5 else np.pi)
                    size = 1 if rng.random() < 0.7 else int(rng.integers(2, 4))
                    for j in range(size):
                        l, w, h = self.dims('Pedestrian')
                        sj = s + j * rng.uniform(0.8, 1.3)
                        lo_u, hi_u = 0.95, max(wdt - 0.45, 1.0)
                        u = e + out * rng.uniform(lo_u, hi_u)
                        if wdt < 1.6:
                            u = e + out * wdt / 2
                        band = f'walk{side}' if wdt >= 1.6 else f'furn{side}'
                        if not self.reserve(band, sj - 0.55, sj + 0.55):
                            continue
                        if rng.random() < 0.25:
                            yaw = rng.uniform(-np.pi, np.pi)
                        else:
                            yaw = yaw_g + rng.normal(0, 0.25)
                        if rng.random() < 0.04:
                            cls, kind = 'Person_sitting', 'person_sitting'
                            l, w, h = self.dims(cls)
                        else:
                            cls, kind = 'Pedestrian', 'pedestrian'
                        o = self.add_object(kind, cls, sj, u, l, w, h, yaw)
                        self.shape_pedestrian(o, sitting=cls == 'Person_sitting')
                if rng.random() < 0.25 and wdt >= 2.0:  # cyclist on the sidewalk
                    l, w, h = self.dims('Cyclist')
                    s = rng.uniform(5.0, 50.0)
                    band = f'walk{side}' if wdt >= 1.6 else f'furn{side}'
                    if self.reserve(band, s - 1.2, s + l + 1.2):
                        o = self.add_object('cyclist', 'Cyclist', s + l / 2, e + out * wdt / 2, l,
                                            w, h, (0.0 if rng.random() < 0.5 else np.pi)
                                            + rng.normal(0, 0.1))
                        self.shape_bike(o, rider=True)
            self.frontage(side, e + out * wdt, st)

    def frontage(self, side: int, u0: float, st: str):
        """Buildings, walls, hedges and vegetation beyond the sidewalk (``u0``: its outer edge)."""
        rng = self.rng
        out = side
        s = -15.0 + rng.uniform(0, 5)
        s_end = 110.0
        if st == 'city':
            while s < s_end:
                wid = rng.uniform(8.0, 30.0)
                if rng.random() < 0.15:  # side street / passage
                    s += rng.uniform(6.0, 16.0)
                    continue
                setback = rng.uniform(0.0, 1.5) if rng.random() < 0.8 else rng.uniform(3, 8)
                depth = rng.uniform(8.0, 15.0)
                self.structure('building', s + wid / 2, u0 + out * (setback + depth / 2), wid,
                               depth, rng.uniform(6.0, 22.0), rng.uniform(0.15, 0.45))
                if setback > 2.5 and rng.random() < 0.6:
                    self.bush(s + rng.uniform(1, wid - 1), u0 + out * setback / 2,
                              size=rng.uniform(0.4, 0.9))
                s += wid + (rng.uniform(0.0, 1.0) if rng.random() < 0.7 else rng.uniform(2, 5))
        elif st == 'residential':
            while s < s_end:
                wid = rng.uniform(10.0, 22.0)
                setback = rng.uniform(3.0, 9.0)
                driveway = setback > 6.5 and rng.random() < 0.35
                line = u0 + out * rng.uniform(0.1, 0.6)
                r = rng.random()
                if r < 0.3 and not driveway:
                    self.structure('hedge', s + wid / 2, line + out * 0.4, wid - 1.0, 0.8,
                                   rng.uniform(0.8, 1.8), rng.uniform(0.35, 0.5), z_offset=-0.2)
                elif r < 0.5 and not driveway:
                    self.structure('wall', s + wid / 2, line + out * 0.15, wid - 1.0, 0.3,
                                   rng.uniform(0.6, 2.0), rng.uniform(0.2, 0.45), z_offset=-0.2)
                hd = rng.uniform(8.0, 12.0)
                self.structure('house', s + wid / 2, u0 + out * (setback + hd / 2),
                               wid - rng.uniform(3.0, 6.0), hd, rng.uniform(4.5, 9.0),
                               rng.uniform(0.15, 0.45))
                if driveway:  # a car parked in the front yard, facing the street or the house
                    l, w, h = self.dims('Car')
                    o = self.add_object('car', 'Car', s + wid / 2, u0 + out * setback / 2, l, w, h,
                                        np.pi / 2 + rng.normal(0, 0.08)
                                        + (np.pi if rng.random() < 0.5 else 0.0))
                    self.shape_car(o)
                else:
                    if rng.random() < 0.6:
                        self.tree(s + rng.uniform(1.0, wid / 2 - 1.0), u0 + out * setback * 0.5)
                    if rng.random() < 0.5:
                        self.bush(s + rng.uniform(wid / 2 + 1.0, wid - 1.0),
                                  u0 + out * rng.uniform(1.5, 2.5))
                s += wid
        else:  # road: open terrain with vegetation, the odd wall or barn
            while s < s_end:
                r = rng.random()
                d = u0 + out * rng.uniform(1.0, 12.0)
                if r < 0.45:
                    self.tree(s, d)
                elif r < 0.8:
                    self.bush(s, d)
                elif r < 0.9:
                    wid = rng.uniform(5.0, 20.0)
                    self.structure('wall', s + wid / 2, d, wid, 0.4, rng.uniform(0.8, 2.5),
                                   rng.uniform(0.2, 0.45), z_offset=-0.2)
                    s += wid
                else:
                    wid = rng.uniform(8.0, 20.0)
                    self.structure('barn', s + wid / 2, d + out * 8.0, wid, 12.0,
                                   rng.uniform(4.0, 8.0), rng.uniform(0.2, 0.5))
                    s += wid
                s += rng.uniform(2.0, 10.0)

    def arrays(self) -> Dict[str, np.ndarray]:
        def arr(rows, n):
            return np.array(rows, dtype=np.float64).reshape(-1, n)
        return dict(box=arr(self.box_rows, 10), cyl=arr(self.cyl_rows, 8),
                    ell=arr(self.ell_rows, 8))

    def ground_albedo(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Albedo of road surface points: asphalt, lane markings, terrain off the road."""
        g = self.road_geom
        s, u = self.to_road(x, y)
        alb = np.full(x.shape, g['asphalt'])
        alb[(u < g['u_r'] - 0.2) | (u > g['u_l'] + 0.2)] = g['terrain']
        lw = g['lw']
        mark = np.zeros(x.shape, dtype=bool)
        for k in range(-g['n_fwd'], g['n_opp'] + 1):
            near = np.abs(u - k * lw) < 0.07
            solid = k in (-g['n_fwd'], g['n_opp']) or (k == 0 and g['n_opp'] > 0)
            if not solid:
                near &= (np.mod(s, g['dash']) < 3.0)
            mark |= near
        alb[mark] = 0.8
        return alb


# --------------------------------------------------------------------------------------------
# Ray casting
# --------------------------------------------------------------------------------------------
class _Rays:
    """The (beam, azimuth) ray grid of one frame; ray ``b * A + a`` (unit directions)."""

    def __init__(self, spec: LidarSpec, phase: float):
        self.el = np.radians(np.asarray(spec.elevations_deg, dtype=np.float64))  # ascending
        self.step = math.radians(spec.az_step_deg)
        self.num_az = spec.num_azimuths
        self.az0 = -math.radians(spec.az_half_fov_deg) + phase * self.step
        az = self.az0 + np.arange(self.num_az) * self.step
        ce, se = np.cos(self.el), np.sin(self.el)
        self.dx = (ce[:, None] * np.cos(az)[None]).ravel()
        self.dy = (ce[:, None] * np.sin(az)[None]).ravel()
        self.dz = np.repeat(se, self.num_az)
        self.num = self.dx.size

    def window(self, az_lo, az_hi, el_lo, el_hi):
        """Index windows [b0, b1) x [a0, a1) of rays within the angular bounds (+1 ray pad)."""
        a0 = np.clip(np.floor((az_lo - self.az0) / self.step), 0, self.num_az).astype(np.int64)
        a1 = np.clip(np.ceil((az_hi - self.az0) / self.step) + 1, 0, self.num_az).astype(np.int64)
        b0 = np.searchsorted(self.el, el_lo - 1e-9, 'left').astype(np.int64)
        b1 = np.searchsorted(self.el, el_hi + 1e-9, 'right').astype(np.int64)
        return b0, b1, a0, a1

    def pairs(self, b0, b1, a0, a1):
        """All (part, ray) pairs of the windows, as two int64 arrays."""
        nb = np.maximum(b1 - b0, 0)
        na = np.maximum(a1 - a0, 0)
        n = nb * na
        total = int(n.sum())
        part = np.repeat(np.arange(n.size), n)
        start = np.cumsum(n) - n
        local = np.arange(total, dtype=np.int64) - np.repeat(start, n)
        na_p = na[part]
        ray = (b0[part] + local // na_p) * self.num_az + a0[part] + local % na_p
        return part, ray


def _elev_bounds(z0, z1, rmin, rmax):
    rmin = np.maximum(rmin, 1e-3)
    lo = np.where(z0 < 0, np.arctan2(z0, rmin), np.arctan2(z0, rmax))
    hi = np.where(z1 > 0, np.arctan2(z1, rmin), np.arctan2(z1, rmax))
    return lo, hi


def _circle_bounds(cx, cy, r):
    d = np.hypot(cx, cy)
    half = np.arcsin(np.clip(r / np.maximum(d, 1e-9), 0, 1))
    azc = np.arctan2(cy, cx)
    inside = d <= r + 1e-3
    az_lo = np.where(inside, -np.pi, azc - half)
    az_hi = np.where(inside, np.pi, azc + half)
    return az_lo, az_hi, np.maximum(d - r, 0), d + r


def _cast_boxes(rays: _Rays, P: np.ndarray):
    cx, cy, cz, hx, hy, hz, yaw = (P[:, i] for i in range(7))
    c, s = np.cos(yaw), np.sin(yaw)
    ex = np.array([1.0, 1.0, -1.0, -1.0])
    ey = np.array([1.0, -1.0, -1.0, 1.0])
    px = cx[:, None] + c[:, None] * hx[:, None] * ex - s[:, None] * hy[:, None] * ey
    py = cy[:, None] + s[:, None] * hx[:, None] * ex + c[:, None] * hy[:, None] * ey
    azc = np.arctan2(cy, cx)
    rel = _wrap(np.arctan2(py, px) - azc[:, None])
    ox = -(c * cx + s * cy)  # the sensor (origin) in each box's frame
    oy = -(-s * cx + c * cy)
    oz = -cz
    rmin = np.hypot(np.maximum(np.abs(ox) - hx, 0), np.maximum(np.abs(oy) - hy, 0))
    inside = rmin < 1e-3
    az_lo = np.where(inside, -np.pi, azc + rel.min(1))
    az_hi = np.where(inside, np.pi, azc + rel.max(1))
    el_lo, el_hi = _elev_bounds(cz - hz, cz + hz, rmin, np.hypot(px, py).max(1))
    part, ray = rays.pairs(*rays.window(az_lo, az_hi, el_lo, el_hi))
    dx, dy, dz = rays.dx[ray], rays.dy[ray], rays.dz[ray]
    cp, sp = c[part], s[part]
    lx = cp * dx + sp * dy
    ly = -sp * dx + cp * dy
    lz = dz
    tn = np.full(ray.shape, -np.inf)
    tf = np.full(ray.shape, np.inf)
    cos = np.zeros(ray.shape)
    for dl, o, h in ((lx, ox[part], hx[part]), (ly, oy[part], hy[part]),
                     (lz, oz[part], hz[part])):
        dl = np.where(np.abs(dl) < 1e-12, 1e-12, dl)
        inv = 1.0 / dl
        t1 = (-h - o) * inv
        t2 = (h - o) * inv
        lo = np.minimum(t1, t2)
        upd = lo > tn
        tn = np.where(upd, lo, tn)
        cos = np.where(upd, np.abs(dl), cos)
        tf = np.minimum(tf, np.maximum(t1, t2))
    hit = (tn <= tf) & (tn > 0.05)
    return part[hit], ray[hit], tn[hit], cos[hit]


def _cast_cylinders(rays: _Rays, P: np.ndarray):
    cx, cy, z0, z1, r = (P[:, i] for i in range(5))
    az_lo, az_hi, rmin, rmax = _circle_bounds(cx, cy, r)
    el_lo, el_hi = _elev_bounds(z0, z1, rmin, rmax)
    part, ray = rays.pairs(*rays.window(az_lo, az_hi, el_lo, el_hi))
    dx, dy, dz = rays.dx[ray], rays.dy[ray], rays.dz[ray]
    pcx, pcy, pz0, pz1, pr = cx[part], cy[part], z0[part], z1[part], r[part]
    a = np.maximum(dx * dx + dy * dy, 1e-12)
    b = dx * pcx + dy * pcy
    cc = pcx * pcx + pcy * pcy - pr * pr
    disc = b * b - a * cc
    ok = (disc >= 0) & (b > 0)
    t_side = (b - np.sqrt(np.maximum(disc, 0))) / a
    zs = t_side * dz
    side = ok & (zs >= pz0) & (zs <= pz1) & (t_side > 0.05)
    cos_side = np.abs((t_side * dx - pcx) * dx + (t_side * dy - pcy) * dy) / pr
    t = np.where(side, t_side, np.inf)
    cos = np.where(side, cos_side, 0.0)
    safe_dz = np.where(np.abs(dz) < 1e-12, 1e-12, dz)
    for zc, valid in ((pz1, (pz1 < 0) & (dz < 0)), (pz0, (pz0 > 0) & (dz > 0))):
        tc = zc / safe_dz
        inside = ((tc * dx - pcx) ** 2 + (tc * dy - pcy) ** 2) <= pr * pr
        cap = valid & inside & (tc > 0.05) & (tc < t)
        t = np.where(cap, tc, t)
        cos = np.where(cap, np.abs(dz), cos)
    hit = np.isfinite(t)
    return part[hit], ray[hit], t[hit], cos[hit]


def _cast_spheroids(rays: _Rays, P: np.ndarray):
    cx, cy, cz, rxy, rz = (P[:, i] for i in range(5))
    az_lo, az_hi, rmin, rmax = _circle_bounds(cx, cy, rxy)
    el_lo, el_hi = _elev_bounds(cz - rz, cz + rz, rmin, rmax)
    part, ray = rays.pairs(*rays.window(az_lo, az_hi, el_lo, el_hi))
    dx, dy, dz = rays.dx[ray], rays.dy[ray], rays.dz[ray]
    ir, iz = 1.0 / rxy[part], 1.0 / rz[part]
    pcx, pcy, pcz = cx[part], cy[part], cz[part]
    ux, uy, uz = dx * ir, dy * ir, dz * iz
    ox, oy, oz = -pcx * ir, -pcy * ir, -pcz * iz
    a = ux * ux + uy * uy + uz * uz
    b = ox * ux + oy * uy + oz * uz
    cc = ox * ox + oy * oy + oz * oz - 1.0
    disc = b * b - a * cc
    t = (-b - np.sqrt(np.maximum(disc, 0))) / a
    hit = (disc >= 0) & (t > 0.05)
    part, ray, t, dx, dy, dz = part[hit], ray[hit], t[hit], dx[hit], dy[hit], dz[hit]
    ir2, iz2 = (1.0 / rxy[part]) ** 2, (1.0 / rz[part]) ** 2
    nx = (t * dx - cx[part]) * ir2
    ny = (t * dy - cy[part]) * ir2
    nz = (t * dz - cz[part]) * iz2
    cos = np.abs(nx * dx + ny * dy + nz * dz) / np.sqrt(nx * nx + ny * ny + nz * nz)
    return part, ray, t, cos


def _project(xyz: np.ndarray):
    """(N, 3) LiDAR points -> (u, v, depth) in image 2 (depth = rectified camera z)."""
    cam = lidar_to_camera_points(xyz)
    img = cam @ _P2[:3, :3].T + _P2[:3, 3]
    depth = img[:, 2]
    with np.errstate(divide='ignore', invalid='ignore'):
        u = img[:, 0] / depth
        v = img[:, 1] / depth
    return u, v, cam[:, 2]


def _in_image(xyz: np.ndarray) -> np.ndarray:
    u, v, z = _project(xyz)
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


def bbox2d_and_truncation(cam_boxes: np.ndarray, near: float = 0.1):
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


def _occlusion_level(visible_frac: float, num_rays: int) -> int:
    if num_rays == 0:
        return 3
    blocked = 1.0 - visible_frac
    return 0 if blocked <= 0.15 else 1 if blocked <= 0.6 else 2


def simulate_frame(seed: int, index: int, spec: Optional[LidarSpec] = None) -> SimFrame:
    """Simulate frame ``index`` of the dataset with seed ``seed`` (rng ``[seed, index]``).

    Returns:
        SimFrame: points (N, 4) float32, point_obj (N,), objects and KITTI labels.
    """
    spec = spec or LidarSpec()
    rng = np.random.default_rng([int(seed), int(index)])
    sb = _SceneBuilder(rng, spec)
    sb.build()
    parts = sb.arrays()
    rays = _Rays(spec, phase=float(rng.random()))
    objects = sb.objects
    n_obj = len(objects)

    # ground (plane + smooth roughness, one fixed-point step onto the height field)
    denom = rays.dz - sb.gx * rays.dx - sb.gy * rays.dy
    down = denom < -1e-6
    t_best = np.full(rays.num, np.inf)
    td = sb.g0 / denom[down]
    xg, yg = td * rays.dx[down], td * rays.dy[down]
    td = (sb.ground_z(xg, yg) - sb.gx * xg - sb.gy * yg) / denom[down]
    t_best[down] = td
    nrm = math.sqrt(1 + sb.gx ** 2 + sb.gy ** 2)
    cos_best = np.zeros(rays.num)
    cos_best[down] = np.abs(denom[down]) / nrm
    obj_best = np.full(rays.num, GROUND_ID, dtype=np.int64)
    albedo_best = np.zeros(rays.num)
    drop_best = np.zeros(rays.num)

    hits = []
    for key, fn in (('box', _cast_boxes), ('cyl', _cast_cylinders), ('ell', _cast_spheroids)):
        P = parts[key]
        if P.shape[0] == 0:
            continue
        part, ray, t, cos = fn(rays, P)
        ncol = P.shape[1]
        hits.append((ray, t, cos, P[part, ncol - 3].astype(np.int64), P[part, ncol - 2],
                     P[part, ncol - 1]))
    for ray, t, _, _, _, _ in hits:
        np.minimum.at(t_best, ray, t)
    for ray, t, cos, obj, alb, drp in hits:
        win = t == t_best[ray]
        r = ray[win]
        obj_best[r] = obj[win]
        cos_best[r] = cos[win]
        albedo_best[r] = alb[win]
        drop_best[r] = drp[win]

    # which labelled objects does each ray meet, and is it the first thing it meets?
    is_lab = np.array([o.kitti_class is not None for o in objects], dtype=bool)
    o_rays = np.zeros(n_obj, dtype=np.int64)
    o_vis = np.zeros(n_obj, dtype=np.int64)
    if hits:
        ray = np.concatenate([h[0] for h in hits])
        t = np.concatenate([h[1] for h in hits])
        obj = np.concatenate([h[3] for h in hits])
        keep = is_lab[obj]
        ray, t, obj = ray[keep], t[keep], obj[keep]
        key = obj * rays.num + ray
        order = np.lexsort((t, key))
        ks = key[order]
        first = order[np.r_[True, ks[1:] != ks[:-1]]] if ks.size else order
        ray, t, obj = ray[first], t[first], obj[first]
        xyz = np.stack([t * rays.dx[ray], t * rays.dy[ray], t * rays.dz[ray]], 1)
        inimg = _in_image(xyz)
        o_rays = np.bincount(obj[inimg], minlength=n_obj)
        o_vis = np.bincount(obj[inimg & (obj_best[ray] == obj)], minlength=n_obj)

    # returns: range limit, dropout, noise, intensity, camera field of view
    ret = np.flatnonzero(t_best <= spec.max_range)
    t = t_best[ret]
    cos = np.clip(cos_best[ret], 0.0, 1.0)
    obj = obj_best[ret]
    gmask = obj == GROUND_ID
    alb = albedo_best[ret]
    xg = t[gmask] * rays.dx[ret[gmask]]
    yg = t[gmask] * rays.dy[ret[gmask]]
    alb[gmask] = sb.ground_albedo(xg, yg)
    p_drop = (spec.dropout + drop_best[ret] + 0.8 * np.clip((0.08 - cos) / 0.08, 0, 1)
              + 0.1 * (t / spec.max_range) ** 2)
    keep = rng.random(t.size) >= p_drop
    noise = np.clip(rng.normal(0.0, spec.range_noise_std, t.size), -spec.range_noise_clip,
                    spec.range_noise_clip)
    # KITTI-like: weak incidence dependence, flat up to ~20 m then fading, many exact zeros
    # on dark and far surfaces (an offset below which the quantised return reads 0.00)
    fade = np.clip(1.0 - (t - 20.0) / 50.0, 0.1, 1.0)
    intensity = (alb * (0.6 + 0.4 * cos) * fade * np.exp(rng.normal(0.0, 0.25, t.size))
                 - 0.04 + rng.normal(0.0, 0.02, t.size))
    ret, t, obj = ret[keep], (t + noise)[keep], obj[keep]
    intensity = np.floor(np.clip(intensity[keep], 0.0, 0.99) * 100.0) / 100.0
    xyz = np.stack([t * rays.dx[ret], t * rays.dy[ret], t * rays.dz[ret]], 1)
    fov = _in_image(xyz)
    points = np.concatenate([xyz[fov], intensity[fov, None]], 1).astype(np.float32)
    point_obj = obj[fov].astype(np.int32)
    n_pts = np.bincount(point_obj[point_obj >= 0], minlength=n_obj)

    labels = _make_labels(objects, o_rays, o_vis, n_pts, spec)
    nrm_vec = np.array([-sb.gx, -sb.gy, 1.0, -sb.g0]) / nrm
    return SimFrame(points, point_obj, objects, labels, sb.scene_type, nrm_vec)


def _make_labels(objects, o_rays, o_vis, n_pts, spec: LidarSpec) -> List[KittiLabel]:
    cand = [o for o in objects if o.kitti_class is not None]
    if not cand:
        return []
    lidar = np.stack([o.box for o in cand])
    cam = np.round(lidar_box_to_camera(lidar), 2)
    bbox, trunc, visible = bbox2d_and_truncation(cam)
    dist = np.hypot(lidar[:, 0], lidar[:, 1])
    labels = []
    for i in np.argsort(dist, kind='stable'):
        o = cand[i]
        if not visible[i] or lidar[i, 0] > spec.label_range:
            continue
        nr, nv = int(o_rays[o.index]), int(o_vis[o.index])
        if nr > 0 and nv == 0:
            continue  # hidden behind other things: nobody could annotate it
        box2d = tuple(float(v) for v in np.round(bbox[i], 2))
        x, y, z, l, h, w, ry = (float(v) for v in cam[i])
        vis_frac = nv / nr if nr else 1.0
        alpha = float(np.round(_wrap(ry - math.atan2(x, z)), 2))
        labels.append(KittiLabel(
            o.kitti_class, float(np.round(trunc[i], 2)), _occlusion_level(vis_frac, nr), alpha,
            box2d, (h, w, l), (x, y, z), ry, obj=o.index, num_points=int(n_pts[o.index]),
            lidar_box=o.box.copy(), visible_frac=vis_frac))
    return labels


# --------------------------------------------------------------------------------------------
# Writing the KITTI layout
# --------------------------------------------------------------------------------------------
def format_label_line(lab: KittiLabel) -> str:
    """One KITTI ``label_2`` line (15 fields, KITTI's precision)."""
    vals = [lab.truncated, lab.occluded, lab.alpha, *lab.bbox, *lab.dimensions, *lab.location,
            lab.rotation_y]
    return (f'{lab.type} {vals[0]:.2f} {int(vals[1])} {vals[2]:.2f} '
            + ' '.join(f'{v:.2f}' for v in vals[3:]))


_PNG_CACHE: Dict[Tuple[int, int], bytes] = {}


def placeholder_png(width: int = IMAGE_WIDTH, height: int = IMAGE_HEIGHT) -> bytes:
    """Bytes of a black RGB PNG of the KITTI image size (the converter reads its shape)."""
    key = (width, height)
    if key not in _PNG_CACHE:
        from PIL import Image
        buf = io.BytesIO()
        Image.new('RGB', (width, height)).save(buf, format='PNG', optimize=True)
        _PNG_CACHE[key] = buf.getvalue()
    return _PNG_CACHE[key]


def write_frame(root: os.PathLike, index: int, frame: SimFrame, split: str = 'training') -> None:
    """Write one frame into ``root/split/{velodyne,label_2,calib,image_2,planes}/%06d.*``."""
    base = Path(root) / split
    name = f'{index:06d}'
    for sub in ('velodyne', 'label_2', 'calib', 'image_2', 'planes'):
        (base / sub).mkdir(parents=True, exist_ok=True)
    frame.points.astype(np.float32).tofile(base / 'velodyne' / f'{name}.bin')
    text = ''.join(format_label_line(lab) + '\n' for lab in frame.labels)
    (base / 'label_2' / f'{name}.txt').write_text(text)
    (base / 'calib' / f'{name}.txt').write_text(CALIB_TEXT)
    (base / 'image_2' / f'{name}.png').write_bytes(placeholder_png())
    plane = lidar_plane_to_camera(frame.plane)
    (base / 'planes' / f'{name}.txt').write_text(
        '# Plane\nWidth 4\nHeight 1\n' + ' '.join(f'{v:.6e}' for v in plane) + '\n')


def write_image_sets(root: os.PathLike, train_ids: Sequence[int], val_ids: Sequence[int],
                     test_ids: Sequence[int] = ()) -> None:
    """Write ``ImageSets/{train,val,trainval,test}.txt``."""
    d = Path(root) / 'ImageSets'
    d.mkdir(parents=True, exist_ok=True)

    def dump(name, ids):
        (d / name).write_text(''.join(f'{i:06d}\n' for i in ids))

    dump('train.txt', train_ids)
    dump('val.txt', val_ids)
    dump('trainval.txt', sorted(list(train_ids) + list(val_ids)))
    dump('test.txt', test_ids)


def write_testing_split(root: os.PathLike, ids: Sequence[int]) -> None:
    """Expose frames ``ids`` of ``training/`` as KITTI's unlabelled ``testing/`` split
    (velodyne, calib, image_2; hard links, copies where links are impossible).

    mmdet3d 1.4's converter needs a non-empty test split: ``update_kitti_infos`` raises
    ``UnboundLocalError: ignore_class_name`` on an empty ``ImageSets/test.txt``.
    """
    import shutil
    root = Path(root)
    for sub, ext in (('velodyne', 'bin'), ('calib', 'txt'), ('image_2', 'png')):
        (root / 'testing' / sub).mkdir(parents=True, exist_ok=True)
        for i in ids:
            src = root / 'training' / sub / f'{i:06d}.{ext}'
            dst = root / 'testing' / sub / f'{i:06d}.{ext}'
            if dst.exists() or dst.is_symlink():
                dst.unlink()
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)


def mmdet3d_mim_root() -> str:
    """The ``.mim`` folder of the installed mmdet3d; put it on ``PYTHONPATH`` so that
    ``mim run mmdet3d create_data`` can import its ``tools.dataset_converters`` package."""
    import importlib.util
    spec = importlib.util.find_spec('mmdet3d')
    if spec is None or spec.origin is None:
        raise ImportError('mmdet3d is not installed')
    return str(Path(spec.origin).parent / '.mim')


def _simulate_and_write(args):
    root, seed, index, spec = args
    t0 = time.perf_counter()
    frame = simulate_frame(seed, index, spec)
    write_frame(root, index, frame)
    counts: Dict[str, int] = {}
    for lab in frame.labels:
        counts[lab.type] = counts.get(lab.type, 0) + 1
    return index, frame.points.shape[0], counts, time.perf_counter() - t0


def generate_dataset(out: os.PathLike, num_train: int, num_val: int, seed: int = 0,
                     spec: Optional[LidarSpec] = None, workers: int = 1,
                     progress: bool = True, val_start: Optional[int] = None) -> dict:
    """Simulate ``num_train + num_val`` frames into the KITTI layout under ``out``.

    Frames ``0..num_train-1`` form the train split, frames ``val_start..val_start+num_val-1``
    (default ``val_start = num_train``: the frames right after the train split) the val split;
    frame ``i`` is drawn from ``rng([seed, i])``, so a few frames of a large dataset's val
    split can be re-created alone (e.g. ``num_train=1, val_start=1500``). The test split
    repeats the val frames without labels (``testing/``, see :func:`write_testing_split`).

    Returns:
        dict: ``frames``, ``seconds``, ``frames_per_s`` (wall), ``cpu_seconds_per_frame``,
        ``points_per_frame`` (mean), ``labels`` (count per class).
    """
    if num_train < 1 or num_val < 1:
        raise ValueError(f'need num_train >= 1 and num_val >= 1 (mmdet3d\'s converter fails on '
                         f'empty splits), got {num_train}, {num_val}')
    spec = spec or LidarSpec()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    val_start = num_train if val_start is None else int(val_start)
    if val_start < num_train:
        raise ValueError(f'val_start={val_start} overlaps the train frames 0..{num_train - 1}')
    ids = list(range(num_train)) + list(range(val_start, val_start + num_val))
    jobs = [(str(out), seed, i, spec) for i in ids]
    t0 = time.perf_counter()
    results = []
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(jobs), unit='frame', desc='simulate KITTI')
    if workers > 1:
        import multiprocessing as mp
        with mp.get_context('fork').Pool(workers) as pool:
            for r in pool.imap(_simulate_and_write, jobs, chunksize=4):
                results.append(r)
                if bar is not None:
                    bar.update(1)
    else:
        for job in jobs:
            results.append(_simulate_and_write(job))
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    test_ids = ids[num_train:]
    write_testing_split(out, test_ids)
    write_image_sets(out, ids[:num_train], ids[num_train:], test_ids)
    seconds = time.perf_counter() - t0
    labels: Dict[str, int] = {}
    for _, _, counts, _ in results:
        for k, v in counts.items():
            labels[k] = labels.get(k, 0) + v
    return dict(frames=len(ids), seconds=seconds, frames_per_s=len(ids) / max(seconds, 1e-9),
                cpu_seconds_per_frame=float(np.mean([r[3] for r in results])),
                points_per_frame=float(np.mean([r[1] for r in results])),
                labels=dict(sorted(labels.items())))


def iter_label_lines(frame: SimFrame) -> Iterable[str]:
    """The ``label_2`` lines of a frame."""
    return (format_label_line(lab) for lab in frame.labels)
