#!/usr/bin/env python
"""Export the student of a PointDistiller checkpoint as a plain mmdet3d checkpoint.

Usage::

    python tools/export_student.py work_dirs/<kd config>/epoch_80.pth student.pth \
        [--config configs/pointpillars/pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py]

With ``--config`` the exported weights are additionally loaded with ``strict=True`` into
that config's model, so a mismatch is reported at export time. Module:
``mmdet3d_pointdistiller.models.distillers.export``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mmdet3d_pointdistiller.models.distillers.export import (  # noqa: E402
    ExportError, export_student)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='checkpoint written while training PointDistillerDetector')
    parser.add_argument('dst', help='output: plain student checkpoint')
    parser.add_argument('--config', help='plain student config to verify a strict load against')
    args = parser.parse_args(argv)
    try:
        exported = export_student(args.src, args.dst, args.config)
    except ExportError as exc:
        print(f'export_student: error: {exc}', file=sys.stderr)
        return 1
    n = len(exported['state_dict'])
    numel = sum(v.numel() for v in exported['state_dict'].values())
    print(f'export_student: wrote {args.dst}: {n} student tensors ({numel / 1e6:.3f} M values)'
          + (f', strict load into {args.config} OK' if args.config else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
