"""Paired-seed statistics of the KD-gain benchmark."""
import math

import pytest

from mmdet3d_pointdistiller.utils.paired_stats import gap_closed, paired_gain, t_quantile


def test_t_quantiles_match_tables():
    # two-sided 95 %: t_{0.975} for 1, 2, 4, 9 degrees of freedom (standard tables)
    for dof, expected in ((1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262)):
        assert t_quantile(0.975, dof) == pytest.approx(expected, abs=1e-3)
    with pytest.raises(ValueError, match='at least 1 degree of freedom'):
        t_quantile(0.975, 0)


def test_paired_gain_hand_computed():
    student = [10.0, 12.0, 11.0, 13.0, 9.0]
    distilled = [11.0, 14.0, 11.5, 14.0, 10.5]
    g = paired_gain(student, distilled, seeds=[1, 2, 3, 4, 5])
    diffs = [1.0, 2.0, 0.5, 1.0, 1.5]
    assert g['diffs'] == diffs and g['n'] == 5 and g['seeds'] == [1, 2, 3, 4, 5]
    mean = sum(diffs) / 5  # 1.2
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 4)  # 0.5701
    half = 2.7764451 * sd / math.sqrt(5)
    assert g['mean'] == pytest.approx(1.2)
    assert g['sd'] == pytest.approx(sd)
    assert g['ci95'] == pytest.approx([1.2 - half, 1.2 + half], abs=1e-6)
    assert g['ci95'][0] > 0  # every seed gains: the interval excludes zero


def test_pairing_removes_shared_seed_noise():
    """Big seed-to-seed spread shared by both arms: the paired CI is narrow, unlike the
    difference of means with unpaired spreads."""
    student = [5.0, 20.0, 35.0]
    distilled = [6.0, 21.2, 35.8]
    g = paired_gain(student, distilled)
    assert g['ci95'][0] > 0 and g['ci95'][1] < 2.0


def test_single_pair_has_no_interval_and_bad_input_raises():
    g = paired_gain([3.0], [4.0])
    assert g['mean'] == 1.0 and g['n'] == 1 and all(math.isnan(v) for v in g['ci95'])
    with pytest.raises(ValueError, match='equal lengths'):
        paired_gain([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match='must be finite'):
        paired_gain([1.0, float('nan')], [1.0, 2.0])
    with pytest.raises(ValueError, match='3 seeds for 2 pairs'):
        paired_gain([1.0, 2.0], [1.0, 2.0], seeds=[1, 2, 3])


def test_gap_closed():
    assert gap_closed([10.0, 12.0], [14.0, 16.0], teacher=21.0) == pytest.approx(4.0 / 10.0)
    assert math.isnan(gap_closed([10.0], [12.0], teacher=10.0))
    # the student alone above the teacher: no gap, not a ratio whose sign flips (the 4x
    # reporting seed 1: student 49.48, distilled 46.29, teacher 49.13 read 'gap closed 9.1')
    assert math.isnan(gap_closed([49.48], [46.29], teacher=49.13))
    assert gap_closed([49.0], [48.0], teacher=50.0) == pytest.approx(-1.0)
    assert math.isnan(gap_closed([], [], teacher=10.0))
