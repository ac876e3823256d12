"""KD-overhead benchmark: the memory-bounded PointDistiller loss against the dense original.

Measured (every KD-loss measurement in fresh worker processes):

1. **KD loss, dense vs ours**, forward + backward, at the paper settings read from the shipped
   distillation configs (:mod:`.cases`); ``ours`` is ``PointDistillerLoss``, ``dense`` the
   dense reference with the same module and inputs (:mod:`.kd_loss`).
2. **Scaling sweeps**: peak memory and time over M at fixed N, K, chunk, and over N at fixed
   M; a least-squares line (slope, intercept, R^2) of peak memory over M (:mod:`.kd_loss`).
3. **One training step** of ``PointDistillerDetector`` with ``distill=True`` vs
   ``distill=False`` on the real KITTI frame (:mod:`.train_step`), in the main process (time
   only) after the KD-loss workers.

Modules:

- :mod:`.memory`: peak-memory counter and the forkserver runner (one process per case);
- :mod:`.cases`: cases and sweep grids from the configs, synthetic inputs;
- :mod:`.kd_loss`: the KD-loss worker, dense-vs-ours comparison, sweeps, line fit;
- :mod:`.train_step`: the distill-vs-student training step;
- :mod:`.targets`: the ratios the loss is held to, named by what they measure;
- :mod:`.run`: the whole run -> a result dict (the JSON record);
- :mod:`.report`: the record -> markdown;
- :mod:`.cli`: the command line of ``tools/benchmark_kd_overhead.py``.
"""
from .cases import (FULL, IMPLS, KD_CASES, KD_CONFIGS, QUICK, kd_case_settings,
                    make_tap_inputs, sweep_settings)
from .cli import main, parse_args, render_record
from .kd_loss import bench_kd_case, bench_sweep, fit_line, kd_worker
from .memory import PeakMemory, Runner
from .report import format_analysis, format_tables, render_markdown, write_markdown
from .run import machine_info, run_benchmark
from .targets import evaluate_targets
from .train_step import train_step_worker

__all__ = ['FULL', 'IMPLS', 'KD_CASES', 'KD_CONFIGS', 'QUICK', 'PeakMemory', 'Runner',
           'bench_kd_case', 'bench_sweep', 'evaluate_targets', 'fit_line', 'format_analysis',
           'format_tables', 'kd_case_settings', 'kd_worker', 'machine_info', 'main',
           'make_tap_inputs', 'parse_args', 'render_markdown', 'render_record', 'run_benchmark',
           'sweep_settings', 'train_step_worker', 'write_markdown']
