"""Export the student of a PointDistiller checkpoint as a plain mmdet3d checkpoint.

A checkpoint written while training ``PointDistillerDetector`` holds the student
(``student.*``), the frozen teacher (``teacher.*``), the KD adapters (``distill_losses.*``),
the optimizer state and the message hub. The exported file keeps only the student's
weights, with the ``student.`` prefix removed (module versions in ``_metadata`` re-keyed the
same way), and a minimal ``meta``; it loads with ``strict=True`` into the plain student model
(the student-only baseline config) and works with ``mim test mmdet3d <baseline config>
--checkpoint OUT``. Command line: ``tools/export_student.py``.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Any, Dict, Optional

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet3d.registry import MODELS

from ...compat import safe_torch_load
from .state_dict import STUDENT, has_part, sub_state_dict

__all__ = ['ExportError', 'load_checkpoint_file', 'export_student_state', 'verify_strict',
           'export_student']

PREFIX = STUDENT + '.'
# meta entries kept in the exported file (everything else, e.g. the training config text,
# seeds and time stamps, is training state)
KEEP_META = ('dataset_meta', 'epoch', 'iter', 'mmengine_version', 'mmdet3d_version',
             'experiment_name')


class ExportError(Exception):
    """The input cannot be exported (missing file, not a distillation checkpoint)."""


def load_checkpoint_file(path: str) -> Any:
    """Weights-only load of ``path`` (mmengine allow-list of the compat shim)."""
    if not osp.isfile(path):
        raise ExportError(f'input checkpoint {path} does not exist')
    # weights-only load with the mmengine allow-list (compat shim of this package)
    return safe_torch_load(path, map_location='cpu')


def export_student_state(ckpt: Any, src: str = '<checkpoint>') -> Dict[str, Any]:
    """Return ``{'meta': ..., 'state_dict': ...}`` for the student of ``ckpt``.

    Args:
        ckpt: a loaded checkpoint (dict with ``state_dict``, or a bare state dict).
        src (str): its file name, for messages and ``meta.exported_from``.

    Raises:
        ExportError: if ``ckpt`` holds no ``student.*`` weights.
    """
    if isinstance(ckpt, dict) and 'state_dict' in ckpt:
        state_dict, meta = ckpt['state_dict'], ckpt.get('meta') or {}
    elif isinstance(ckpt, dict):
        state_dict, meta = ckpt, {}
    else:
        raise ExportError(f'{src} is not a checkpoint dict (got {type(ckpt).__name__})')
    if not has_part(state_dict, STUDENT):
        keys = [k for k in state_dict if isinstance(k, str)]
        prefixes = sorted({k.split('.', 1)[0] for k in keys})[:10]
        raise ExportError(f'{src} is not a PointDistiller checkpoint: it has no '
                          f"'{PREFIX}*' weights (top-level prefixes: {prefixes}); a plain "
                          f'detector checkpoint needs no export')
    # module versions (e.g. spconv 2 weight layout) are keyed by module path and re-keyed with
    # the weights, otherwise spconv would permute SECOND's kernels when the student is loaded
    out = sub_state_dict(state_dict, STUDENT)
    new_meta_info = {k: meta[k] for k in KEEP_META if k in meta}
    new_meta_info['exported_from'] = osp.basename(src)
    new_meta_info['exporter'] = 'mmdet3d_pointdistiller tools/export_student.py'
    return {'meta': new_meta_info, 'state_dict': out}


def verify_strict(exported: Dict[str, Any], config: str) -> None:
    """Load the exported weights into ``config``'s model with ``strict=True``."""
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmdet3d'))
    if cfg.model.get('type') == 'PointDistillerDetector':
        raise ExportError(f'--config {config} is a distillation config; pass the plain student '
                          f'(baseline) config')
    model = MODELS.build(cfg.model)
    try:
        model.load_state_dict(exported['state_dict'], strict=True)
    except RuntimeError as exc:
        raise ExportError(f'the exported weights do not load strictly into {config}: '
                          f'{exc}') from exc


def export_student(src: str, dst: str, config: Optional[str] = None) -> Dict[str, Any]:
    """Export the student of checkpoint file ``src`` to ``dst``; with ``config``, check first
    that the weights load strictly into that (plain student) config. Returns the exported
    checkpoint dict.

    Raises:
        ExportError: missing input, not a distillation checkpoint, or a failed strict load.
    """
    exported = export_student_state(load_checkpoint_file(src), src)
    if config:
        verify_strict(exported, config)
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(exported, dst)
    return exported
