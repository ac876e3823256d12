"""The project's experiments on the simulated dataset, apart from the quickstart.

* :mod:`.kd_gain`: paired-seed KD-gain records: per-run results and paired statistics
  (``tools/benchmark_kd_gain.py``, whose harness is :mod:`.kd_gain_runs`); :mod:`.kd_gain_report`
  renders a record's markdown and pictures; :mod:`.kd_gain_readme` writes the README's
  block on the reporting record from it; :mod:`.seed_extension` is the protocol's rule for
  adding seeds while the headline interval is too wide (and which seeds are certain to run);
* :mod:`.protocol`: pre-registration that git can check (a protocol's commit and time, every
  run's start time, the confirmatory flag);
* :mod:`.zoo`: the sim model zoo: learning-curve points, precise-BN checkpoints, few-frame
  checks and shipping (``tools/train_sim_zoo.py``); :mod:`.sim_zoo` trains and ships the teacher
  stages, :mod:`.sim_zoo_students` ships the converged students of the paired-seed record,
  :mod:`.sim_zoo_readme` renders ``configs/sim/README.md`` from the records;
* :mod:`.paper_ordering`: measured gains beside the paper's ordering of Tables 3 and 5;
* :mod:`.box_errors`: matched-box error statistics (``tools/box_error_stats.py``).

The quickstart (:mod:`mmdet3d_pointdistiller.quickstart`) keeps the pipeline, its jobs,
dataset, evaluation, progress, summary and settings, and uses these modules.
"""
