#!/usr/bin/env python
"""KD-overhead benchmark: the memory-bounded PointDistiller loss against the dense original.

Measured (the harness is :mod:`mmdet3d_pointdistiller.bench.kd_overhead`; its module
docstrings give each method in full):

1. **KD loss, dense vs ours**, forward + backward, at the three paper settings, read from the
   shipped distillation configs (``configs/pointdistiller/``): KD hyper-parameters of every
   tap and the per-GPU batch size of the config's ``train_dataloader``; PointPillars 4x
   (also as one batch-pooled graph), both SECOND 4x BEV stages, PointRCNN 8x. ``ours`` is
   ``PointDistillerLoss``; ``dense`` is ``dense_reference_from_module`` with the very same
   module and inputs, so both give the same loss value. Features are synthetic.
2. **Scaling sweeps**: peak memory and time over M at fixed N, and over N at fixed M; a
   least-squares line of peak memory over M.
3. **One training step** of ``PointDistillerDetector`` with ``distill=True`` vs
   ``distill=False`` on the real KITTI frame 000008 (``--kitti-dir``), PointPillars 4x.

Peak memory: each KD-loss case runs in a fresh process forked from a ``forkserver``; the
kernel's peak-RSS counter is reset after the inputs are built (``/proc/self/clear_refs``) and
``VmHWM - VmRSS(start)`` is the peak extra memory (CUDA: ``max_memory_allocated``). Time:
medians of ``--repeats`` rounds that alternate dense and ours after a warm-up.

Writes ``kd_overhead.json`` and ``kd_overhead.md`` to ``--out-dir`` (default ``benchmarks/``).
``--render RECORD`` renders the report of a stored record instead of measuring.

    python tools/benchmark_kd_overhead.py [--threads 1] [--repeats 3] [--device cpu]
        [--out-dir benchmarks] [--quick] [--profile]
    python tools/benchmark_kd_overhead.py --render benchmarks/kd_overhead.json
"""
from mmdet3d_pointdistiller.bench.kd_overhead.cli import main

if __name__ == '__main__':
    main()
