"""One simulated frame: scene, ray casting, returns and KITTI labels.

Returns get Gaussian range noise (clipped, so a point never leaves the inset margin of its
object), dropout (base rate + material + grazing incidence + range) and an intensity from the
surface albedo, the incidence angle and the range, quantised to 0.01. Labels follow the rules
of the package docstring (:mod:`mmdet3d_pointdistiller.sim`).
"""
from __future__ import annotations

import math
from typing import List, Optional

import numpy as np

from .calib import _wrap, bbox2d_and_truncation, in_image, lidar_box_to_camera
from .raycast import _cast_boxes, _cast_cylinders, _cast_spheroids, _Rays
from .scene import _SceneBuilder
from .spec import GROUND_ID, KittiLabel, LidarSpec, SceneObject, SimFrame

__all__ = ['simulate_frame']


def _occlusion_level(visible_frac: float, num_rays: int) -> int:
    """KITTI ``occluded`` level of an object from the fraction of its rays that reach it first
    (0: <= 15 % blocked, 1: <= 60 %, 2: more, 3: no ray met it)."""
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
        inimg = in_image(xyz)
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
    fov = in_image(xyz)
    points = np.concatenate([xyz[fov], intensity[fov, None]], 1).astype(np.float32)
    point_obj = obj[fov].astype(np.int32)
    n_pts = np.bincount(point_obj[point_obj >= 0], minlength=n_obj)

    labels = _make_labels(objects, o_rays, o_vis, n_pts, spec)
    nrm_vec = np.array([-sb.gx, -sb.gy, 1.0, -sb.g0]) / nrm
    return SimFrame(points, point_obj, objects, labels, sb.scene_type, nrm_vec)


def _make_labels(objects: List[SceneObject], o_rays: np.ndarray, o_vis: np.ndarray,
                 n_pts: np.ndarray, spec: LidarSpec) -> List[KittiLabel]:
    """KITTI labels of the visible labelled objects within ``spec.label_range``, nearest
    first; ``o_rays``/``o_vis``/``n_pts`` are per-object ray, first-hit and point counts."""
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
