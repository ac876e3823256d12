"""The numbers the README's opening section writes by hand come from committed records: the
archived first benchmark, the student's learning curve, the design tuning, the reporting
record's result and its lead at 1500 iterations, and the paper's table. A record that changes
without the prose fails here (the reporting record's block is generated and checked by
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


def test_reporting_result_and_its_learning_phase_lead_are_the_reporting_records():
    from mmdet3d_pointdistiller.experiments.kd_gain import curve_gains
    rec = _record('kd_gain_sim.json')
    entry = rec['ratios']['16x']
    g = entry['paired_gain']
    lo, hi = g['ci95']
    assert g['n'] == 10 and lo < 0 < hi  # the verdict the prose states: no gain measured
    assert (f"over the protocol's ten 16× seeds the default ends at **{_signed(g['mean'])} "
            f"[{_signed(lo)}, {_signed(hi)}]: no gain was measured**") in _readme()
    early = curve_gains(entry, 'default')[1500]
    lo, hi = early['ci95']
    assert early['n'] == 10 and lo > 0
    assert (f"ahead while they learn ({_signed(early['mean'])} [{_signed(lo)}, {_signed(hi)}] "
            f"at 1500 of the {rec['budget']['iters']} iterations"
            ) in _readme()


def test_the_papers_16x_gain_quoted_beside_it_is_the_papers_table():
    from mmdet3d_pointdistiller.paper_results import paper_table
    rows = {r['key']: r for r in paper_table(2)['rows']}
    a, b = (rows[k]['values']['d3']['mAP'] for k in ('pointpillars-16x',
                                                     'pointpillars-16x_pointdistiller'))
    assert f"the paper's {b - a:+.1f} (its 16× PointPillars, {a} → {b})" in _readme()


def test_short_schedule_gain_is_the_short_records_and_it_is_confirmatory():
    rec = _record('kd_gain_sim_short.json')
    entry = rec['ratios']['16x']
    g = entry['paired_gain']
    lo, hi = g['ci95']
    assert rec['confirmatory']['confirmatory'] and not entry['missing']
    assert rec['budget']['iters'] == 1500 and entry['seeds'] == list(range(11, 21))
    student = sum(entry['student']) / len(entry['student'])
    assert (f"complete {rec['budget']['iters']}-iteration schedule on fresh seeds 11–20: there "
            f"the default **gains {_signed(g['mean'])} [{_signed(lo)}, {_signed(hi)}]** 3D mAP "
            f"over the student alone's {student:.2f}") in _readme()
