"""The ``student.`` / ``teacher.`` parts of a PointDistiller checkpoint (one owner).

A ``PointDistillerDetector`` state dict holds ``student.*``, ``teacher.*`` and
``distill_losses.*`` entries. Its ``_metadata`` (module versions, keyed by module path: e.g.
spconv 2's weight layout, which decides whether SECOND's kernels are permuted on load) must be
re-keyed the same way as the weights, or a loaded sub-model silently gets the wrong layout.
Used by the student export, the teacher loader, the ONNX exporter and the BEV pictures.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Mapping

__all__ = ['STUDENT', 'TEACHER', 'has_part', 'sub_state_dict']

STUDENT = 'student'
TEACHER = 'teacher'


def has_part(state_dict: Mapping[str, Any], part: str) -> bool:
    """Whether ``state_dict`` has any ``<part>.*`` entry (a distiller checkpoint)."""
    prefix = part + '.'
    return any(isinstance(k, str) and k.startswith(prefix) for k in state_dict)


def sub_state_dict(state_dict: Mapping[str, Any], part: str) -> 'OrderedDict[str, Any]':
    """The ``<part>.*`` entries of ``state_dict`` with the prefix removed, ``_metadata``
    re-keyed alike (``'<part>'`` -> ``''``, ``'<part>.x'`` -> ``'x'``).

    Args:
        state_dict: a distiller state dict (keys ``student.*``, ``teacher.*``, ...).
        part: ``'student'`` or ``'teacher'`` (any top-level module name works).

    Returns:
        OrderedDict: possibly empty; with ``_metadata`` when the input had one.
    """
    prefix = part + '.'
    out = OrderedDict((k[len(prefix):], v) for k, v in state_dict.items()
                      if isinstance(k, str) and k.startswith(prefix))
    old_meta = getattr(state_dict, '_metadata', None)
    if old_meta is not None:
        out._metadata = OrderedDict(
            ('' if k == part else k[len(prefix):], v) for k, v in old_meta.items()
            if k == part or k.startswith(prefix))
    return out
