#!/usr/bin/env python
"""Export the student of a PointDistiller checkpoint as a plain mmdet3d checkpoint.

A checkpoint written while training ``PointDistillerDetector`` holds the student
(``student.*``), the frozen teacher (``teacher.*``), the KD adapters (``distill_losses.*``),
the optimizer state and the message hub. The exported file keeps only the student's
weights, with the ``student.`` prefix removed, and a minimal ``meta``; it loads with
``strict=True`` into the plain student model (the student-only baseline config) and works
with ``mim test mmdet3d <baseline config> --checkpoint OUT``.

Usage::

    python tools/export_student.py work_dirs/<kd config>/epoch_80.pth student.pth \
        [--config configs/pointpillars/pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py]

With ``--config`` the exported weights are additionally loaded with ``strict=True`` into
that config's model, so a mismatch is reported at export time.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from collections import OrderedDict
from typing import Any, Dict, Optional, Sequence

import torch

PREFIX = 'student.'
# meta entries kept in the exported file (everything else, e.g. the training config text,
# seeds and time stamps, is training state)
KEEP_META = ('dataset_meta', 'epoch', 'iter', 'mmengine_version', 'mmdet3d_version',
             'experiment_name')


class ExportError(Exception):
    """The input cannot be exported (missing file, not a distillation checkpoint)."""


def _load(path: str) -> Any:
    if not osp.isfile(path):
        raise ExportError(f'input checkpoint {path} does not exist')
    # weights-only load with the mmengine allow-list (compat shim of this package)
    from mmdet3d_pointdistiller.compat import safe_torch_load
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
    keys = [k for k in state_dict if isinstance(k, str)]
    student_keys = [k for k in keys if k.startswith(PREFIX)]
    if not student_keys:
        prefixes = sorted({k.split('.', 1)[0] for k in keys})[:10]
        raise ExportError(f'{src} is not a PointDistiller checkpoint: it has no '
                          f"'{PREFIX}*' weights (top-level prefixes: {prefixes}); a plain "
                          f'detector checkpoint needs no export')
    out = OrderedDict((k[len(PREFIX):], state_dict[k]) for k in student_keys)
    # module versions (e.g. spconv 2 weight layout) are keyed by module path: re-key them,
    # otherwise spconv would permute SECOND's kernels when the student is loaded
    old_meta = getattr(state_dict, '_metadata', None)
    if old_meta is not None:
        new_meta = OrderedDict()
        for k, v in old_meta.items():
            if k == 'student':
                new_meta[''] = v
            elif k.startswith(PREFIX):
                new_meta[k[len(PREFIX):]] = v
        out._metadata = new_meta
    new_meta_info = {k: meta[k] for k in KEEP_META if k in meta}
    new_meta_info['exported_from'] = osp.basename(src)
    new_meta_info['exporter'] = 'mmdet3d_pointdistiller tools/export_student.py'
    return {'meta': new_meta_info, 'state_dict': out}


def verify_strict(exported: Dict[str, Any], config: str) -> None:
    """Load the exported weights into ``config``'s model with ``strict=True``."""
    import mmdet3d_pointdistiller  # noqa: F401  registers modules, activates shims
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmdet3d.registry import MODELS

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


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='checkpoint written while training PointDistillerDetector')
    parser.add_argument('dst', help='output: plain student checkpoint')
    parser.add_argument('--config', help='plain student config to verify a strict load against')
    args = parser.parse_args(argv)
    try:
        exported = export_student_state(_load(args.src), args.src)
        if args.config:
            verify_strict(exported, args.config)
    except ExportError as exc:
        print(f'export_student: error: {exc}', file=sys.stderr)
        return 1
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(exported, args.dst)
    n = len(exported['state_dict'])
    numel = sum(v.numel() for v in exported['state_dict'].values())
    print(f'export_student: wrote {args.dst}: {n} student tensors ({numel / 1e6:.3f} M values)'
          + (f', strict load into {args.config} OK' if args.config else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
