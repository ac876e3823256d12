"""What a quickstart run is made of: its configs and shipped files (repository-relative), the
budgets (frames, iterations), the a-priori stage costs and the ``--cfg-options`` of a budget."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

__all__ = ['BUDGETS', 'CONFIGS', 'DISPLAY', 'KD_GAIN_RECORD', 'STAGES', 'TEACHER_FT_CONFIG',
           'TEACHER_FT_ITERS', 'TEACHER_TRAIN_CONFIG', 'ZOO_RECORD', 'ZOO_STUDENTS',
           'ZOO_TEACHER', 'Budget', 'budget_cfg_options', 'estimate_seconds']

CONFIGS = {
    # the plain sim PointPillars: the shipped zoo teacher loads into it
    'teacher': 'configs/sim/pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
    'student': 'configs/sim/pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
    'pointdistiller':
        'configs/sim/pointdistiller_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
}
#: ``--train-teacher``: the zoo teacher's own schedule (tools/train_sim_zoo.py): stage 1 from
#: scratch, then (full budget only) stage 2, a second cosine cycle from stage 1's final weights
TEACHER_TRAIN_CONFIG = 'configs/sim/pointpillars_hv_secfpn_1xb4-3000it-cpu_sim-kitti-3d-3class.py'
TEACHER_FT_CONFIG = \
    'configs/sim/pointpillars_hv_secfpn_1xb4-3000it-ft2000it-cpu_sim-kitti-3d-3class.py'
TEACHER_FT_ITERS = 2000  # TEACHER_FT_CONFIG's train_cfg.max_iters (a test checks they agree)
#: the shipped zoo teacher (stage 2) and its record (KittiMetric on the zoo's 1500 / 300-frame
#: dataset); stage 1's file stays shipped too: the records measured with it name it
ZOO_TEACHER = \
    'checkpoints/sim/pointpillars_hv_secfpn_1xb4-3000it-ft2000it_sim-kitti-3d-3class_fp16.pth'
ZOO_RECORD = 'checkpoints/sim/pointpillars_hv_secfpn_1xb4-3000it-ft2000it_sim-kitti-3d-3class.json'
KD_GAIN_RECORD = 'benchmarks/kd_gain_sim.json'
#: the shipped converged 16x students (``tools/train_sim_zoo.py student-16x`` and
#: ``pointdistiller-16x``: seed 1 of the reporting record's runs), by their zoo records; the
#: quickstart evaluates the ones that are shipped (a test checks the names against the zoo tool)
ZOO_STUDENTS = {
    'zoo_student':
        'checkpoints/sim/pointpillars-16x_hv_secfpn_1xb4-6000it_sim-kitti-3d-3class.json',
    'zoo_pointdistiller': 'checkpoints/sim/'
        'pointdistiller_pointpillars-16x_hv_secfpn_1xb4-6000it_sim-kitti-3d-3class.json',
}
DISPLAY = {'teacher': 'PointPillars teacher (sim model zoo)',
           'zoo_student': 'PointPillars 16× (student alone, sim model zoo)',
           'zoo_pointdistiller': 'PointPillars 16× + PointDistiller (sim model zoo)',
           'pointdistiller': 'PointPillars 16× + PointDistiller (live demo)'}
#: ``models``: the live PointDistiller demo trains on one core while the shipped models are
#: evaluated on the other
STAGES = ('data', 'teacher', 'models', 'pictures', 'summary')


@dataclass
class Budget:
    """Sizes of one quickstart run.

    Attributes:
        num_train / num_val: simulated frames per split.
        teacher_iters / student_iters: training iterations (batch ``batch_size``) of the
            teacher (``--train-teacher``) and of the live PointDistiller demo.
        evals: validations per trained teacher stage (evenly spaced, the last at the end); the
            demo is not validated (the shipped converged students are the result).
        vis_frames: validation frames drawn per model; latency_frames: frames timed.
    """
    num_train: int
    num_val: int
    teacher_iters: int
    student_iters: int
    evals: int = 2
    vis_frames: int = 3
    latency_frames: int = 10
    batch_size: int = 2


#: ``full`` is the README's quickstart (measured wall time in benchmarks and README);
#: ``tiny`` is the miniature run of tests/test_quickstart.py.
BUDGETS: Dict[str, Budget] = {
    'tiny': Budget(num_train=6, num_val=3, teacher_iters=4, student_iters=4, evals=1,
                   vis_frames=1, latency_frames=2),
    'small': Budget(num_train=120, num_val=30, teacher_iters=200, student_iters=200, evals=2,
                    vis_frames=2, latency_frames=5),
    # the zoo dataset (the shipped models' val split) and a demo of a few minutes
    'full': Budget(num_train=1500, num_val=300, teacher_iters=3000, student_iters=300, evals=1,
                   vis_frames=3, latency_frames=10),
}

# Seconds per unit on the 2-core development machine (1 torch thread, other jobs running);
# only used for the ETA, which is rescaled by the measured speed after every stage.
_COST = dict(sim_frame=0.025, convert_fixed=20.0, convert_frame=0.07, startup=40.0,
             teacher_iter=1.2, pointdistiller_iter=0.75, precise_bn=25.0, val_frame=0.08,
             test_fixed=30.0, test_frame=0.25, evaluate_fixed=20.0, evaluate_frame=1.0,
             picture=4.0, summary=1.0)


def estimate_seconds(b: Budget, parallel: bool = True, train_teacher: bool = True,
                     teacher_ft_iters: int = 0) -> Dict[str, float]:
    """A-priori seconds of every stage for budget ``b`` (see ``_COST``); ``teacher_ft_iters``:
    the teacher's second stage, when it is trained too (costed like the first)."""
    c = _COST
    frames = b.num_train + b.num_val
    val = b.evals * b.num_val * c['val_frame']
    scale = b.batch_size / 2
    demo = c['startup'] + b.student_iters * c['pointdistiller_iter'] * scale + c['precise_bn']
    # the shipped teacher and students tested on the val split, then counted and timed
    zoo = c['test_fixed'] + b.num_val * c['test_frame'] + c['evaluate_fixed'] + \
        b.latency_frames * c['evaluate_frame']

    def teacher_run(iters: int) -> float:  # one teacher stage; both stages cost alike
        return c['startup'] + iters * c['teacher_iter'] * scale + val if iters else 0.0
    return dict(
        data=frames * c['sim_frame'] + c['convert_fixed'] + frames * c['convert_frame'],
        teacher=(teacher_run(b.teacher_iters) + teacher_run(teacher_ft_iters)
                 if train_teacher else 1.0),
        # the demo and the evaluation on two cores: the longer one, slowed a little by the
        # other
        models=max(demo, zoo) * 1.15 if parallel else demo + zoo,
        pictures=4 * b.vis_frames * c['picture'] + 3.0,
        summary=c['summary'])


def budget_cfg_options(iters: int, evals: int, seed: int, batch_size: int = 2) -> List[str]:
    """``--cfg-options`` that give a sim config an ``iters``-iteration budget.

    Warm-up ``min(50, iters // 6)`` iterations then cosine to the end, ``evals`` validations
    (and checkpoints) evenly spaced with the last at ``iters``, a log line every
    ``min(10, iters // 20)`` iterations, training seed ``seed``.
    """
    if iters < 1 or evals < 1:
        raise ValueError(f'iters and evals must be >= 1, got {iters}, {evals}')
    warm = max(1, min(50, iters // 6))
    interval = max(1, -(-iters // evals))
    log = max(1, min(10, iters // 20))
    return [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={interval}',
            f'default_hooks.checkpoint.interval={interval}',
            f'default_hooks.logger.interval={log}', f'log_processor.window_size={log}',
            f'param_scheduler.0.end={warm}', f'param_scheduler.1.begin={warm}',
            f'param_scheduler.1.end={iters}', f'param_scheduler.1.T_max={max(1, iters - warm)}',
            f'train_dataloader.batch_size={batch_size}', f'randomness.seed={seed}']
