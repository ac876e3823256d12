"""mmdet3d-pointdistiller: PointDistiller (CVPR 2023) for MMDetection3D 1.x.

Importing this package (it is the ``custom_imports`` target of every config):

* registers the package's modules into mmdet3d's registries (``default_scope='mmdet3d'``);
* activates the compatibility shims of :mod:`mmdet3d_pointdistiller.compat` that this
  machine needs (see ``compat.ACTIVE``).
"""
from .version import __version__
from . import compat
from . import datasets, engine, models  # noqa: F401  registers modules

compat.activate()

__all__ = ['__version__', 'compat', 'datasets', 'engine', 'models']
