"""Procedural street scenes: the layout of road, traffic, sidewalks and frontage.

A straight road (random heading, 1-2 lanes per direction, optional parking lanes) with raised
sidewalks, traffic in the lanes, parked rows along the curbs, pedestrians on the sidewalks
(sometimes crossing), cyclists at the lane edges, and clutter that makes hard negatives. Three
scene styles (city, residential, road) change the densities. The objects and their parts come
from :class:`~mmdet3d_pointdistiller.sim.parts._PartsBuilder`.
"""
from __future__ import annotations

import math

import numpy as np

from .parts import _PartsBuilder

__all__: list = []


class _SceneBuilder(_PartsBuilder):
    """Procedural street scene: objects and their primitive parts in the LiDAR frame."""

    # ---------------------------------------------------------------- layout
    def build(self) -> None:
        """Lay out the road and place every object of the scene (the rng draws in order)."""
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
