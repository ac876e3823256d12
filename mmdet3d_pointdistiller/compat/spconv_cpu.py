"""Training of spconv sparse convolutions (SECOND) on machines without CUDA.

What it replaces
    The name ``get_current_stream`` inside ``spconv.pytorch.ops`` only (bound there by
    ``from spconv.pytorch.cppcore import ..., get_current_stream``). spconv's own
    ``cppcore.get_current_stream`` and every other spconv module are left untouched.

Why
    mmcv 2.1.0's sparse convolution has no CPU kernel (``get_indice_pairs is not
    implemented on CPU``), so SECOND needs spconv on CPU machines: with ``spconv`` (the CPU
    wheel, ``pip install spconv==2.3.8``, setup.cfg extra ``cpu``) installed, mmdet3d 1.4.0
    registers spconv's modules and ``predict`` works. Training then fails in
    ``spconv.pytorch.ops.indice_conv_backward``, which asks
    ``torch.cuda.current_stream().cuda_stream`` *before* it branches to its own CPU
    gather-mm-scatter code, and a CPU-only torch raises there. The CPU branch never uses
    the stream.

How
    ``spconv.pytorch.ops.get_current_stream`` becomes a function that returns 0 (the null
    stream handle, never dereferenced on the CPU path) while ``torch.cuda.is_available()``
    is False, and otherwise defers to spconv's original. GPU users install the
    ``spconv-cuXXX`` wheel matching their CUDA (e.g. ``spconv-cu120`` for CUDA 12.x,
    ``spconv-cu118`` for 11.8) and this shim never activates.

Versions
    Written for spconv 2.3.x (tested with 2.3.8 + cumm 0.7.11) under mmdet3d 1.4.0.
    Active only when spconv is installed, exposes ``spconv.pytorch.ops.get_current_stream``,
    and CUDA is unavailable.
"""
from __future__ import annotations

import importlib
import importlib.util
from typing import Callable, Optional

import torch

__all__ = ['spconv_cpu_needed', 'register_spconv_cpu', 'unregister_spconv_cpu']

_OPS_MODULE = 'spconv.pytorch.ops'
_ATTR = 'get_current_stream'
_original: Optional[Callable[[], int]] = None


def spconv_cpu_needed() -> bool:
    """Whether spconv is installed and CUDA is unavailable to torch."""
    return (not torch.cuda.is_available()) and importlib.util.find_spec('spconv') is not None


def _make_stream_query(original: Callable[[], int]) -> Callable[[], int]:

    def get_current_stream() -> int:
        """spconv's CUDA stream handle; 0 (unused by spconv's CPU path) without CUDA.

        Installed by :mod:`mmdet3d_pointdistiller.compat.spconv_cpu`.
        """
        if not torch.cuda.is_available():
            return 0
        return original()

    get_current_stream.__wrapped__ = original  # type: ignore[attr-defined]
    get_current_stream._pd_spconv_cpu = True  # type: ignore[attr-defined]
    return get_current_stream


def register_spconv_cpu() -> bool:
    """Make spconv's CPU backward usable where CUDA is unavailable (idempotent).

    Returns:
        bool: whether the shim is active. With CUDA available (or without spconv) nothing
        is changed and any earlier installation in this process is undone.
    """
    global _original
    if not spconv_cpu_needed():
        unregister_spconv_cpu()
        return False
    ops = importlib.import_module(_OPS_MODULE)
    current = getattr(ops, _ATTR, None)
    if current is None:
        return False
    if getattr(current, '_pd_spconv_cpu', False):
        return True
    _original = current
    setattr(ops, _ATTR, _make_stream_query(current))
    return True


def unregister_spconv_cpu() -> bool:
    """Put spconv's original ``get_current_stream`` back; returns whether one was restored."""
    global _original
    if _original is None:
        return False
    ops = importlib.import_module(_OPS_MODULE)
    setattr(ops, _ATTR, _original)
    _original = None
    return True
