"""Vectorised ray casting of the simulated LiDAR against primitive parts.

Each part is culled to the (beam, azimuth) index window that its angular bounds cover, all
(ray, part) pairs of a primitive type are intersected at once (slab test for yawed boxes,
quadratics for vertical cylinders and spheroids); the caller keeps the nearest hit per ray.
Every ``_cast_*`` function returns ``(part, ray, t, cos)``: the part and ray index of each hit,
its range along the unit ray and the cosine of the incidence angle.
"""
from __future__ import annotations

import math
from typing import Tuple

import numpy as np

from .calib import _wrap
from .spec import LidarSpec

__all__: list = []

_Hits = Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


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

    def window(self, az_lo: np.ndarray, az_hi: np.ndarray, el_lo: np.ndarray,
               el_hi: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Index windows [b0, b1) x [a0, a1) of rays within the angular bounds (+1 ray pad)."""
        a0 = np.clip(np.floor((az_lo - self.az0) / self.step), 0, self.num_az).astype(np.int64)
        a1 = np.clip(np.ceil((az_hi - self.az0) / self.step) + 1, 0, self.num_az).astype(np.int64)
        b0 = np.searchsorted(self.el, el_lo - 1e-9, 'left').astype(np.int64)
        b1 = np.searchsorted(self.el, el_hi + 1e-9, 'right').astype(np.int64)
        return b0, b1, a0, a1

    def pairs(self, b0: np.ndarray, b1: np.ndarray, a0: np.ndarray,
              a1: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
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


def _elev_bounds(z0: np.ndarray, z1: np.ndarray, rmin: np.ndarray,
                 rmax: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Elevation interval (rad) of a vertical extent ``[z0, z1]`` seen from horizontal
    distances ``[rmin, rmax]``."""
    rmin = np.maximum(rmin, 1e-3)
    lo = np.where(z0 < 0, np.arctan2(z0, rmin), np.arctan2(z0, rmax))
    hi = np.where(z1 > 0, np.arctan2(z1, rmin), np.arctan2(z1, rmax))
    return lo, hi


def _circle_bounds(cx: np.ndarray, cy: np.ndarray,
                   r: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Azimuth interval and horizontal distance range ``(az_lo, az_hi, rmin, rmax)`` of
    circles of radius ``r`` centred at ``(cx, cy)``."""
    d = np.hypot(cx, cy)
    half = np.arcsin(np.clip(r / np.maximum(d, 1e-9), 0, 1))
    azc = np.arctan2(cy, cx)
    inside = d <= r + 1e-3
    az_lo = np.where(inside, -np.pi, azc - half)
    az_hi = np.where(inside, np.pi, azc + half)
    return az_lo, az_hi, np.maximum(d - r, 0), d + r


def _cast_boxes(rays: _Rays, P: np.ndarray) -> _Hits:
    """Hits of yawed boxes ``P`` (K, 10+) ``cx, cy, cz, hx, hy, hz, yaw, ...`` (slab test)."""
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


def _cast_cylinders(rays: _Rays, P: np.ndarray) -> _Hits:
    """Hits of vertical cylinders ``P`` (K, 5+) ``cx, cy, z0, z1, r, ...`` (side and caps)."""
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


def _cast_spheroids(rays: _Rays, P: np.ndarray) -> _Hits:
    """Hits of spheroids ``P`` (K, 5+) ``cx, cy, cz, rxy, rz, ...``."""
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
