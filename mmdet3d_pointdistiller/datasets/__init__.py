"""Data transforms of mmdet3d-pointdistiller (registered into mmdet3d's ``TRANSFORMS``)."""
from .zero_velocity import AddZeroVelocity

__all__ = ['AddZeroVelocity']
