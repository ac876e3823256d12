"""Objects and their primitive parts: the building blocks of a simulated street scene.

:class:`_PartsBuilder` places objects in road coordinates ``(s, u)`` (``s`` along the road,
``u`` across it) and fills each with primitive parts (yawed boxes, vertical cylinders,
spheroids) that stay inside its box, inset by ``LidarSpec.part_margin`` for labelled objects.
The road frame itself (heading, ego lane, sidewalks, markings) is laid out by
:meth:`mmdet3d_pointdistiller.sim.scene._SceneBuilder.build`, which sets the attributes the
frame conversions read. Every random draw comes from the builder's one generator, in call order,
so a scene is a pure function of its seed.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

import numpy as np

from .calib import _wrap, camera_box_to_lidar, lidar_box_to_camera
from .spec import LidarSpec, SceneObject

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


class _PartsBuilder:
    """Objects, their primitive parts and the ground of one scene, in the LiDAR frame.

    The road-frame attributes (``psi``, ``cpsi``, ``spsi``, ``u_ego``, ``sidewalks``, ``curb``,
    ``road_geom``, ``scene_type``) are set by the layout of the subclass
    :class:`~mmdet3d_pointdistiller.sim.scene._SceneBuilder` before any object is placed.
    """

    psi: float
    cpsi: float
    spsi: float
    u_ego: float
    curb: float
    sidewalks: Dict[int, Tuple[float, float]]
    road_geom: dict
    scene_type: str

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

    def arrays(self) -> Dict[str, np.ndarray]:
        """The parts as float64 tables ``box`` (K, 10), ``cyl`` (K, 8) and ``ell`` (K, 8); the
        last three columns of each are object index, albedo and extra dropout."""
        def arr(rows: list, n: int) -> np.ndarray:
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
