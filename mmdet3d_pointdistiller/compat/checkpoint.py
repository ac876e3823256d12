"""Safe loading of mmengine 0.10.7 checkpoints on torch >= 2.6.

What it replaces
    mmengine's local-file checkpoint loader (``CheckpointLoader`` scheme ``''``,
    ``mmengine.runner.checkpoint.load_from_local``), which calls ``torch.load(filename)``
    with torch's default ``weights_only``.

Why
    torch >= 2.6 loads with ``weights_only=True`` by default. A checkpoint written by
    mmengine 0.10.7's runner stores its message hub (``HistoryBuffer`` objects) and numpy
    scalars/arrays, which the weights-only unpickler refuses, so ``load_from``,
    ``--resume`` and teacher checkpoints all fail. Turning ``weights_only`` off would
    reopen arbitrary code execution from a checkpoint file.

How
    The replacement loader still uses ``weights_only=True`` and adds, for the duration of
    that one call only (``torch.serialization.safe_globals``), exactly the globals such
    checkpoints reference: numpy's array/dtype/scalar reconstruction, mmengine's
    ``HistoryBuffer``, ``collections.OrderedDict``, ``_codecs.encode`` and a *restricted*
    ``builtins.getattr`` that only resolves HistoryBuffer's statistics methods (pickle
    protocol 2 writes ``HistoryBuffer.mean`` as ``getattr(HistoryBuffer, 'mean')``). Any
    other global makes the load fail with :class:`UnsafeCheckpointError` naming the file and
    the refused global. Nothing is added to torch's process-wide allow-list.

Versions
    Active only for torch >= 2.6 (older torch loads with ``weights_only=False`` and does
    not need it). Written for mmengine 0.10.7; registration goes through mmengine's public
    ``CheckpointLoader.register_scheme`` (no mmengine file or class is modified).
"""
from __future__ import annotations

import _codecs
import collections
import os.path as osp
import pickle
from typing import Any, Callable, List, Tuple, Union

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

try:  # numpy >= 2 moved the private module to numpy._core
    from numpy._core import multiarray  # type: ignore
except ImportError:  # numpy 1.x
    from numpy.core import multiarray  # type: ignore

__all__ = [
    'UnsafeCheckpointError', 'checkpoint_safe_globals', 'safe_torch_load',
    'needs_safe_loader', 'register_safe_checkpoint_loader'
]


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint references a pickled global outside the mmengine allow-list."""


def _torch_version() -> Tuple[int, int]:
    major, minor = torch.__version__.split('+')[0].split('.')[:2]
    return int(major), int(minor)


def needs_safe_loader() -> bool:
    """True where torch.load defaults to ``weights_only=True`` (torch >= 2.6)."""
    return _torch_version() >= (2, 6)


def _restricted_getattr(obj: Any, name: str) -> Any:
    """``getattr`` limited to ``HistoryBuffer.<statistics method>``.

    Raises:
        UnsafeCheckpointError: for any other object or attribute.
    """
    allowed = set(HistoryBuffer._statistics_methods) | {'min', 'max', 'current', 'mean'}
    if obj is HistoryBuffer and isinstance(name, str) and name in allowed:
        return getattr(HistoryBuffer, name)
    raise UnsafeCheckpointError(
        f'refused getattr({obj!r}, {name!r}) while unpickling: only '
        f'HistoryBuffer statistics methods {sorted(allowed)} may be resolved')


def _numpy_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """numpy objects a message hub / meta dict pickles, under both numpy 1 and 2 names."""
    out: List[Union[Callable, Tuple[Callable, str]]] = [np.ndarray, np.dtype]
    for mod in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        out.append((multiarray._reconstruct, f'{mod}._reconstruct'))
        out.append((multiarray.scalar, f'{mod}.scalar'))
    # dtype classes (numpy >= 1.25 pickles e.g. numpy.dtypes.Float64DType)
    dtypes_mod = getattr(np, 'dtypes', None)
    if dtypes_mod is not None:
        for name in dir(dtypes_mod):
            cls = getattr(dtypes_mod, name)
            if isinstance(cls, type) and issubclass(cls, np.dtype):
                out.append((cls, f'numpy.dtypes.{name}'))
    return out


def checkpoint_safe_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """The complete allow-list for mmengine 0.10.7 checkpoints."""
    return _numpy_globals() + [
        HistoryBuffer,
        collections.OrderedDict,
        _codecs.encode,
        (_restricted_getattr, 'builtins.getattr'),
    ]


def safe_torch_load(filename: str, map_location: Any = None) -> Any:
    """``torch.load(weights_only=True)`` with the mmengine allow-list for this call only.

    Raises:
        FileNotFoundError: if ``filename`` does not exist.
        UnsafeCheckpointError: if the file references any other pickled global.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file {filename} can not be found.')
    with torch.serialization.safe_globals(checkpoint_safe_globals()):
        try:
            return torch.load(filename, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as exc:
            # opcodes the weights-only unpickler does not know: a damaged file or no torch
            # checkpoint at all (still refused, but not reported as a forbidden object)
            if not isinstance(exc, UnsafeCheckpointError) and any(
                    m in str(exc) for m in ('Unsupported operand', 'String is too long')):
                raise ValueError(
                    f'checkpoint {filename} is not a readable torch checkpoint (corrupt, '
                    f'truncated or not written by torch.save); torch said: {exc}') from exc
            raise UnsafeCheckpointError(
                f'refusing to load checkpoint {filename}: it contains a pickled object '
                f'outside the mmengine checkpoint allow-list (numpy arrays/scalars, '
                f'HistoryBuffer, OrderedDict). Only load it with weights_only=False if you '
                f'trust its origin. torch said: {exc}') from exc


def load_from_safe_local(filename: str, map_location: Any = None) -> Any:
    """mmengine loader for local files (logged as the ``safe_local`` backend)."""
    return safe_torch_load(filename, map_location)


def register_safe_checkpoint_loader() -> bool:
    """Register :func:`safe_torch_load` as mmengine's local-file checkpoint loader.

    Returns:
        bool: whether it was registered (only on torch >= 2.6).
    """
    if not needs_safe_loader():
        return False
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_safe_local, force=True)
    return True
