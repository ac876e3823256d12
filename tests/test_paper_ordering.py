"""Measured paired KD gains beside the paper's ordering (``reproduce_table.py --record``)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from scipy.stats import t as scipy_t

from mmdet3d_pointdistiller.bench.paper_table import print_ordering
from mmdet3d_pointdistiller.experiments.kd_gain import summarise_ratio
from mmdet3d_pointdistiller.experiments.paper_ordering import (family_wise, kendall_tau,
                                                               ordering_markdown, ordering_rows,
                                                               paper_gains)

TOOL = Path(__file__).resolve().parents[1] / 'tools' / 'reproduce_table.py'


def _record(per_method: dict, seeds=(1, 2, 3)) -> dict:
    """A KD-gain record whose method m has 3D mAP ``student + gain_m[i]`` on seed i (BEV the
    same plus 10), summarised by the benchmark's own code."""
    student = {s: 10.0 + s for s in seeds}
    runs = {'student': {str(s): dict(map_3d=student[s], map_bev=student[s] + 10,
                                     car_3d_moderate=0.0, car_bev_moderate=0.0)
                        for s in seeds}}
    for m, gains in per_method.items():
        runs[m] = {str(s): dict(map_3d=student[s] + g, map_bev=student[s] + 10 + g,
                                car_3d_moderate=0.0, car_bev_moderate=0.0)
                   for s, g in zip(seeds, gains)}
    entry = dict(methods={m: f'{m}.py' for m in runs}, seeds=list(seeds), runs=runs)
    return dict(ratios={'16x': summarise_ratio(entry, teacher_map=40.0)})


def test_paper_gains_and_ranks_follow_tables_3_and_5():
    gains = paper_gains()
    assert gains['pointdistiller']['gain_3d'] == pytest.approx(62.1 - 58.7)
    assert gains['ld-only']['gain_3d'] == pytest.approx(61.2 - 58.7)
    assert gains['ld-only']['table'] == 5 and gains['crd']['table'] == 3
    rows = {r['key']: r for r in ordering_rows(_record({}), '16x')}
    assert [k for k, _ in sorted(rows.items(), key=lambda kv: (kv[1]['paper_rank'], kv[0]))] == [
        'pointdistiller', 'ld-only', 'rl-only', 'attention-nonlocal', 'overhaul', 'se-ssd',
        'similarity-preserving', 'attention-transfer', 'crd', 'fitnets']
    assert rows['fitnets']['paper_rank'] == rows['crd']['paper_rank'] == 9  # both +0.0: a tie
    assert all(r['n'] == 0 and r['rank'] is None and r['gain_3d'] is None
               for r in rows.values())


def test_measured_gains_cis_and_ranks_come_from_the_paired_seeds():
    rec = _record({'pointdistiller': [-1.9, -2.0, -2.1], 'fitnets': [1.8, 2.0, 2.2],
                   'ld-only': [0.5], 'frozen': [0.0, 0.0, 0.0]})
    rows = {r['key']: r for r in ordering_rows(rec, '16x')}
    assert rows['fitnets']['gain_3d'] == pytest.approx(2.0)
    lo, hi = rows['fitnets']['ci95']
    half = 4.302653 * 0.2 / 3 ** 0.5  # t(0.975, 2 dof) x sd / sqrt(n)
    assert (lo, hi) == (pytest.approx(2.0 - half, abs=1e-5), pytest.approx(2.0 + half, abs=1e-5))
    assert rows['fitnets']['gain_bev'] == pytest.approx(2.0)
    assert (rows['fitnets']['rank'], rows['ld-only']['rank'],
            rows['pointdistiller']['rank']) == (1, 2, 3)
    assert rows['ld-only']['n'] == 1 and rows['crd']['rank'] is None
    text = ordering_markdown(rec, '16x', source='rec.json')
    assert '| fitnets | 3 | 58.7 | +0.0 | 9 | +2.00 [+1.50, +2.50] (n = 3, above 0)' in text
    assert '+0.50 (n = 1, no interval)' in text
    assert 'below 0' in text  # pointdistiller's interval
    assert 'excludes 0: fitnets, pointdistiller.' in text
    # 3 methods with an interval (frozen included): Bonferroni at 1 - 0.05 / 3
    fw = family_wise(list(rows.values()) + [dict(key='frozen', n=3, diffs=[0.0, 0.0, 0.0])])
    assert fw['m'] == 3 and fw['level'] == pytest.approx(1 - 0.05 / 3)
    g = fw['intervals']['fitnets']
    assert g['t'] == pytest.approx(scipy_t.ppf(1 - 0.05 / 6, 2))
    assert g['ci95'][1] - g['mean'] == pytest.approx(g['t'] * 0.2 / 3 ** 0.5)
    assert ('Multiple comparisons: 2 methods have a 95 % interval, so about 0.1 of them would '
            'exclude 0 by chance') in text  # the paper rows only
    assert 'the methods that still exclude 0: fitnets, pointdistiller (adjusted: ' in text
    # mean 2, sd 0.7: 95 % half-width 4.30 x 0.7 / 1.73 = 1.74 excludes 0, the adjusted one
    # t(1 - 0.05 / 4, 2) = 6.21 -> 2.51 does not
    wide = ordering_markdown(_record({'pointdistiller': [-1.3, -2.0, -2.7],
                                      'fitnets': [1.3, 2.0, 2.7]}), '16x')
    assert 'excludes 0: fitnets, pointdistiller.' in wide
    assert ('still exclude 0: none (adjusted: fitnets +2.00 [-0.51, +4.51], '
            'pointdistiller -2.00 [-4.51, +0.51]).') in wide
    assert family_wise([rows['fitnets']]) is None
    assert 'In the record but not a paper row (not ranked here): frozen.' in text
    assert 'Not in the record (no paired seed): attention-transfer,' in text


def test_kendall_tau_is_one_for_the_papers_order_and_needs_three_methods():
    paper = paper_gains()
    same = _record({k: [paper[k]['gain_3d']] * 3
                    for k in ('pointdistiller', 'ld-only', 'overhaul', 'attention-transfer')})
    tau = kendall_tau(ordering_rows(same, '16x'))
    assert tau['tau'] == pytest.approx(1.0) and tau['m'] == 4
    reverse = _record({k: [-paper[k]['gain_3d']] * 3
                       for k in ('pointdistiller', 'ld-only', 'overhaul', 'attention-transfer')})
    assert kendall_tau(ordering_rows(reverse, '16x'))['tau'] == pytest.approx(-1.0)
    two = _record({'pointdistiller': [1.0], 'fitnets': [2.0]})
    assert kendall_tau(ordering_rows(two, '16x')) is None
    assert 'needs at least 3 methods' in ordering_markdown(two, '16x')


def test_unknown_ratio_names_the_ratios_of_the_record():
    with pytest.raises(ValueError, match=r"no ratio '4x'; it has \['16x'\]"):
        ordering_rows(_record({}), '4x')


def test_cli_record_mode_writes_markdown_and_reports_errors(tmp_path, capsys):
    path = tmp_path / 'rec.json'
    path.write_text(json.dumps(_record({'fitnets': [1.0, 2.0, 3.0]})))
    assert print_ordering(str(path), '16x', str(tmp_path / 'out' / 'ordering')) == 0
    written = (tmp_path / 'out' / 'ordering.md').read_text()
    assert written.strip() in capsys.readouterr().out
    assert '+2.00 [-0.48, +4.48] (n = 3, contains 0)' in written
    assert print_ordering(str(path), '4x') == 2
    assert f"--record {path}: the record has no ratio '4x'" in capsys.readouterr().err
    assert print_ordering(str(tmp_path / 'missing.json'), '16x') == 2
    assert 'missing.json' in capsys.readouterr().err
    proc = subprocess.run([sys.executable, str(TOOL), '--record', str(path), '--table', '3'],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and 'exactly one of --table or --record' in proc.stderr
