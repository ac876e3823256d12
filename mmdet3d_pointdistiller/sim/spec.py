"""The simulator's sensor specification and the records a simulated frame is made of."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

__all__ = ['GROUND_ID', 'hdl64e_elevations', 'LidarSpec', 'SceneObject', 'KittiLabel',
           'SimFrame']

GROUND_ID = -1  #: object id of ground returns in :attr:`SimFrame.point_obj`


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

    def __post_init__(self) -> None:
        if not 0.01 <= self.az_step_deg <= 2.0:
            raise ValueError(f'LidarSpec.az_step_deg must be in [0.01, 2], got {self.az_step_deg}')
        if self.part_margin <= self.range_noise_clip:
            raise ValueError('LidarSpec.part_margin must exceed LidarSpec.range_noise_clip, got '
                             f'{self.part_margin} <= {self.range_noise_clip}')
        if list(self.elevations_deg) != sorted(self.elevations_deg):
            raise ValueError('LidarSpec.elevations_deg must be ascending')

    @property
    def num_azimuths(self) -> int:
        """Number of azimuth steps cast across ``[-az_half_fov_deg, +az_half_fov_deg]``."""
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
