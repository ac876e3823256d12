"""Datasets of mmdet3d-pointdistiller.

:mod:`mmdet3d_pointdistiller.datasets.sim_kitti` is a LiDAR scene simulator that writes a
KITTI-format dataset (``tools/simulate_kitti.py``). It is deliberately *not* imported here or
from the package ``__init__``: configs that only train on an existing dataset never need it.
Import it explicitly::

    from mmdet3d_pointdistiller.datasets import sim_kitti
"""

__all__: list = []
