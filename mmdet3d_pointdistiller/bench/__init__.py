"""Benchmark harnesses behind the ``tools/benchmark_*.py`` command lines.

- :mod:`.kd_overhead`: cost (time, peak memory) of the memory-bounded PointDistiller loss
  against the dense original, and of a distillation training step against a student step.
"""
