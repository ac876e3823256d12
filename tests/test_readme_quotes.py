"""The numbers the README's opening section writes by hand come from committed records: the
archived first benchmark, the student's learning curve and the design tuning. A record that
changes without the prose fails here (the reporting record's block is generated and checked by
``tests/test_kd_gain_readme.py``)."""
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _readme() -> str:
    return ' '.join((REPO / 'README.md').read_text().split())  # line wrapping does not matter


def _signed(v: float) -> str:
    return f'{v:+.2f}'.replace('-', '−')


def _record(path: str) -> dict:
    return json.loads((REPO / 'benchmarks' / path).read_text())


def test_first_benchmark_interval_is_the_archived_records():
    g = _record('archive/kd_gain_sim_v3_1500it.json')['ratios']['16x']['paired_gain']
    lo, hi = g['ci95']
    assert f'{_signed(g["mean"])} [{_signed(lo)}, {_signed(hi)}] (95 % CI;' in _readme()


def test_student_share_of_the_teacher_is_the_curve_records():
    rec = _record('student_curve_sim.json')
    final = rec['ratios']['16x']['student']
    share = 100 * sum(final) / len(final) / rec['teacher']['map_3d']
    assert f'the 16× student alone reaches {share:.1f} % of the teacher in ' \
           f'{rec["budget"]["iters"]} iterations' in _readme()


@pytest.mark.parametrize('arm,quote', [
    ('pfn-edge', 'design (c)**, the student regressing the teacher\'s parameter-free edge '
                 'features ({} 3D mAP on the two seeds'),
    ('pfn-frozen', 'ahead of the frozen teacher adapter\'s {}'),
    ('pfn-edge-w10', 'at 5× the KD weight, {})'),
    ('bev-frozen', 'the frozen teacher adapter, design (a) ({})'),
])
def test_design_tuning_gains_are_the_tuning_records(arm, quote):
    gain = _record('kd_design_sim_tuning.json')['ratios']['16x']['arms'][arm]['paired_gain']
    assert quote.format(_signed(gain['mean'])) in _readme()


def test_design_c_loss_at_the_bev_taps_is_the_tuning_records():
    gain = _record('kd_design_sim_tuning.json')['ratios']['16x']['arms']['bev-edge']
    assert f'(design (c) lost {-gain["paired_gain"]["mean"]:.1f})' in _readme()
