"""Simulated KITTI-format LiDAR dataset: a ray-casting 64-beam sensor in procedural street
scenes.

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

Modules
    :mod:`.spec` (``LidarSpec`` and the frame records), :mod:`.calib` (the KITTI calibration,
    coordinate conversions, image projection), :mod:`.parts` and :mod:`.scene` (objects, their
    parts and the street layout), :mod:`.raycast` (the primitive intersections), :mod:`.frame`
    (:func:`simulate_frame`: returns and labels), :mod:`.kitti_writer` (files in KITTI's layout)
    and :mod:`.generate` (:func:`generate_dataset`, the parallel driver).

Usage: ``tools/simulate_kitti.py --out data/sim_kitti --num-train N --num-val M --seed S``.
This subpackage is deliberately not imported by the package ``__init__``: configs that only train
on an existing dataset never need it.
"""
from .calib import (CALIB, CALIB_TEXT, IMAGE_HEIGHT, IMAGE_WIDTH, KITTI_LABEL_TYPES, TARGET_CLASSES,
                    bbox2d_and_truncation, camera_box_to_lidar, in_image, lidar_box_to_camera,
                    lidar_plane_to_camera, lidar_to_camera_points, points_in_lidar_boxes,
                    project_to_image)
from .frame import simulate_frame
from .generate import generate_dataset, mmdet3d_mim_root
from .kitti_writer import (format_label_line, iter_label_lines, placeholder_png, write_frame,
                           write_image_sets, write_testing_split)
from .spec import GROUND_ID, KittiLabel, LidarSpec, SceneObject, SimFrame, hdl64e_elevations

__all__ = [
    'IMAGE_WIDTH', 'IMAGE_HEIGHT', 'KITTI_LABEL_TYPES', 'TARGET_CLASSES', 'CALIB_TEXT', 'CALIB',
    'GROUND_ID', 'LidarSpec', 'SceneObject', 'KittiLabel', 'SimFrame', 'hdl64e_elevations',
    'simulate_frame', 'write_frame', 'write_image_sets', 'write_testing_split',
    'lidar_plane_to_camera', 'generate_dataset', 'mmdet3d_mim_root', 'lidar_box_to_camera',
    'camera_box_to_lidar', 'lidar_to_camera_points', 'points_in_lidar_boxes',
    'project_to_image', 'in_image', 'bbox2d_and_truncation', 'format_label_line',
    'iter_label_lines', 'placeholder_png',
]
