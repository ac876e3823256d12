"""``np.long`` for mmdet3d's GT-database sampler on numpy 1.24 - 1.26.

What it replaces
    Only the module global ``np`` of ``mmdet3d.datasets.transforms.dbsampler``: it becomes a
    thin proxy of numpy that also answers ``long`` (= ``np.int64``). numpy itself, and every
    other module, is left untouched.

Why
    mmdet3d 1.4.0's ``DataBaseSampler.sample_all`` builds the sampled labels with
    ``np.array(..., dtype=np.long)``. numpy removed ``np.long`` in 1.24 (it returns in 2.0), so
    with the pinned numpy 1.26.4 every ``ObjectSample`` transform that samples anything raises
    ``AttributeError: module 'numpy' has no attribute 'long'`` -- on real KITTI as on the
    simulated set. Upstream: open-mmlab/mmdetection3d issue #2821, fixed by PR #2872
    (``np.long`` -> ``np.int64``) after the 1.4.0 release.

When
    Active only if numpy has no ``long`` and ``sample_all`` still refers to it (its code object
    names ``long``); a fixed mmdet3d or numpy >= 2 turns the shim off by itself.
"""
from __future__ import annotations

import types

import numpy as np


class _NumpyWithLong(types.ModuleType):
    """numpy, plus ``long = np.int64`` (the dtype the upstream fix uses)."""

    long = np.int64

    def __init__(self) -> None:
        super().__init__('numpy', np.__doc__)

    def __getattr__(self, name: str):
        return getattr(np, name)


def register_dbsampler_numpy_long() -> bool:
    """Give ``mmdet3d.datasets.transforms.dbsampler`` a numpy with ``long``; True if active."""
    if 'long' in vars(np):  # (hasattr would trip numpy 1.26's FutureWarning)
        return False
    # lazy: importing mmdet3d.datasets registers its modules; done only when this shim activates
    from mmdet3d.datasets.transforms import dbsampler
    if 'long' not in dbsampler.DataBaseSampler.sample_all.__code__.co_names:
        return False
    if not isinstance(dbsampler.np, _NumpyWithLong):
        dbsampler.np = _NumpyWithLong()
    return True
