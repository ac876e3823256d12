"""The descriptive analyses of a paired-seed record, on hand-computable runs: where the spread
of an arm's paired differences comes from (``difference_spread``) and the paired difference at
every validation (``curve_gains``), and their tables in the record's markdown."""
import math
import statistics

import pytest

from mmdet3d_pointdistiller.experiments.kd_gain import curve_gains, difference_spread
from mmdet3d_pointdistiller.experiments.kd_gain_report import _curve_gain_table, _spread_table


def _run(car: float, ped: float, cyc: float, curve_before: tuple = ()) -> dict:
    """A finished run whose final 3D mAP is the mean of the three classes' moderate AP and
    whose curve ends with it (``curve_before``: the earlier validations' 3D mAP)."""
    final = (car + ped + cyc) / 3
    ap = {'3D': {c: {'moderate': v} for c, v in
                 (('Car', car), ('Pedestrian', ped), ('Cyclist', cyc))}}
    curve = [{'iter': 100 * (i + 1), 'map_3d': v} for i, v in enumerate(curve_before)]
    curve.append({'iter': 100 * (len(curve_before) + 1), 'map_3d': final})
    return dict(map_3d=final, ap=ap, curve=curve)


def _entry(student: list, arm: list) -> dict:
    seeds = list(range(1, len(student) + 1))
    return dict(seeds=seeds, arms={'kd': {}},
                runs=dict(student={str(s): r for s, r in zip(seeds, student)},
                          kd={str(s): r for s, r in zip(seeds, arm)}))


def test_spread_of_final_values_classes_and_correlation():
    # student 30/30/30 -> mAP 30 on every seed but shifted; the arm differs on Car only
    student = [_run(30, 30, 30, (20, 25)), _run(33, 30, 30, (21, 26)),
               _run(36, 30, 30, (22, 27))]
    arm = [_run(33, 30, 30, (20, 25)), _run(33, 30, 30, (21, 26)), _run(30, 30, 30, (22, 27))]
    sp = difference_spread(_entry(student, arm), 'kd')
    diffs = [1.0, 0.0, -2.0]  # (3, 0, -6) Car differences over 3
    assert sp['seeds'] == [1, 2, 3]
    assert sp['sd'] == pytest.approx(statistics.stdev(diffs))
    # Car carries every difference; the other classes none
    assert sp['class_sd'] == pytest.approx({'Car': statistics.stdev([3, 0, -6]) / 3,
                                            'Pedestrian': 0.0, 'Cyclist': 0.0})
    assert sp['class_sd']['Car'] == pytest.approx(sp['sd'])
    # the earlier validations are equal on a seed: averaging the last k dilutes the
    # differences by k
    assert sp['sd_last'][2] == pytest.approx(sp['sd'] / 2)
    assert sp['sd_last'][3] == pytest.approx(sp['sd'] / 3)
    assert sp['sd_ref'] == pytest.approx(1.0) and sp['sd_arm'] == pytest.approx(
        statistics.stdev([31, 31, 30]))
    assert sp['corr'] == pytest.approx(statistics.correlation([30, 31, 32], [31, 31, 30]))
    assert sp['corr'] < 0


def test_spread_needs_three_seeds_and_every_validation():
    two = _entry([_run(30, 30, 30), _run(31, 30, 30)], [_run(32, 30, 30), _run(30, 30, 30)])
    assert difference_spread(two, 'kd') is None
    # a run with a single validation: no "last 2" summary, the rest is computed
    short = _entry([_run(30, 30, 30, (1,)), _run(33, 30, 30, (1,)), _run(36, 30, 30)],
                   [_run(33, 30, 30, (1,)), _run(33, 30, 30, (1,)), _run(30, 30, 30, (1,))])
    sp = difference_spread(short, 'kd')
    assert sp['sd_last'] == {} and sp['sd'] == pytest.approx(statistics.stdev([1, 0, -2]))


def test_constant_arm_has_no_correlation_and_the_table_says_so():
    student = [_run(30, 30, 30, (20,)), _run(33, 30, 30, (20,)), _run(36, 30, 30, (20,))]
    arm = [_run(33, 30, 30, (20,))] * 3
    e = _entry(student, arm)
    sp = difference_spread(e, 'kd')
    assert math.isnan(sp['corr']) and sp['sd_arm'] == 0.0
    lines = _spread_table(e)
    header = next(line for line in lines if line.startswith('| method − student'))
    row = next(line for line in lines if line.startswith('| kd |'))
    cols = [c.strip() for c in header.strip('|').split('|')]
    cells = dict(zip(cols, (c.strip() for c in row.strip('|').split('|'))))
    assert cells['seeds'] == '3' and cells['corr'] == '–' and cells['sd arm'] == '0.00'
    assert cells['sd'] == f"{sp['sd']:.2f}" and cells['last 2'] == f"{sp['sd_last'][2]:.2f}"
    assert cells['Car / 3'] == f"{sp['class_sd']['Car']:.2f}"
    assert 'last 3' not in cols  # two validations per run
    assert _spread_table(_entry(student[:2], arm[:2])) == []


def test_curve_gains_pair_each_validation_on_the_seeds_that_have_it():
    student = [_run(30, 30, 30, (10, 20)), _run(33, 30, 30, (12, 21)),
               _run(36, 30, 30, (14, 22))]
    arm = [_run(33, 30, 30, (13, 20)), _run(33, 30, 30, (16, 23)), _run(30, 30, 30, (15, 21))]
    # seed 3's student run lost its first validation (interrupted there, resumed after it)
    student[2]['curve'] = student[2]['curve'][1:]
    e = _entry(student, arm)
    g = curve_gains(e, 'kd')
    assert sorted(g) == [100, 200, 300]
    assert g[100]['seeds'] == [1, 2] and g[100]['diffs'] == pytest.approx([3.0, 4.0])
    assert g[200]['diffs'] == pytest.approx([0.0, 2.0, -1.0]) and g[200]['n'] == 3
    # the last validation is the run's final value: the record's paired gain
    assert g[300]['diffs'] == pytest.approx([1.0, 0.0, -2.0])
    lines = _curve_gain_table(e)
    assert lines[3] == '| method − student | iter 100 | iter 200 | iter 300 |'
    lo, hi = g[100]['ci95']
    assert lines[5].startswith(f'| kd | +3.50 [{lo:+.2f}, {hi:+.2f}] (n = 2) | +0.33 [')
    assert lines[5].endswith('(n = 3) |')
    for run in student + arm:  # no curves: no table
        run['curve'] = []
    assert curve_gains(e, 'kd') == {} and _curve_gain_table(e) == []
