"""Operator library of the package: CPU implementations of mmcv's CUDA-only point ops
(:mod:`.point_ops_cpu`). Importing it changes nothing; :mod:`mmdet3d_pointdistiller.compat`
binds these kernels into mmcv where CUDA is missing."""
