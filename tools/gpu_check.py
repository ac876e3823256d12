#!/usr/bin/env python
"""Checks and report of ``tools/gpu_check.sh`` (one subcommand per step; see that script).

Every ``check-*`` subcommand prints what it found, appends a section to the report, and
exits 1 on the first wrong result, so the shell script stops there (``set -e``).

    python tools/gpu_check.py header REPORT
    python tools/gpu_check.py check-pytest REPORT JUNIT.xml SECONDS
    python tools/gpu_check.py check-kd REPORT KD_OVERHEAD.json SECONDS
    python tools/gpu_check.py amp-config OUT.py TEACHER.pth ITERS
    python tools/gpu_check.py check-amp REPORT WORK_DIR ITERS SECONDS
    python tools/gpu_check.py footer REPORT TOTAL_SECONDS
"""
import sys

from mmdet3d_pointdistiller.bench.gpu_check import COMMANDS

if __name__ == '__main__':
    if len(sys.argv) < 2 or sys.argv[1].replace('-', '_') not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1].replace('-', '_')](*sys.argv[2:])
