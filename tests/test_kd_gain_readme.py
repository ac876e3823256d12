"""The README's generated block on the reporting record (``experiments/kd_gain_readme.py``)."""
import copy
import json
from pathlib import Path

import pytest

from mmdet3d_pointdistiller.experiments.kd_gain import summarise_ratio
from mmdet3d_pointdistiller.experiments.kd_gain_readme import (BEGIN, END, block_of,
                                                               result_block, update_readme,
                                                               verdict)

REPO = Path(__file__).resolve().parents[1]


def test_readme_block_is_the_committed_record():
    """The README quotes the committed reporting record as it is: re-run
    `python tools/benchmark_kd_gain.py --render benchmarks/kd_gain_sim.json` after a change."""
    rec = json.loads((REPO / 'benchmarks/kd_gain_sim.json').read_text())
    assert block_of((REPO / 'README.md').read_text()) == result_block(rec)


def _record(diffs_default, student=(35.0, 36.0, 34.0, 35.5, 34.5) * 2, missing_seed=None):
    """A 16x record summarised by the benchmark's own code: the student's values per seed,
    the default = student + diff, the release = student + 1."""
    student = student[:len(diffs_default)]
    seeds = list(range(1, len(student) + 1))
    runs = {m: {} for m in ('student', 'default', 'release')}
    for s, v, d in zip(seeds, student, diffs_default):
        for m, value in (('student', v), ('default', v + d), ('release', v + 1.0)):
            if m != 'student' and s == missing_seed:
                continue
            runs[m][str(s)] = dict(map_3d=value, map_bev=value + 10, car_3d_moderate=value)
    entry = dict(methods=dict(student='s.py', default='d.py', release='r.py'), seeds=seeds,
                 runs=runs)
    summarise_ratio(entry, 50.0)
    return dict(teacher=dict(map_3d=50.0), budget=dict(iters=6000, batch_size=4),
                protocol=dict(commit='778f874b97aa'), confirmatory=dict(confirmatory=True),
                ratios={'16x': entry})


def _flat(text: str) -> str:
    """The block without its line wrapping."""
    return text.replace('\n  ', ' ').replace('\n', ' ')


def test_partial_record_states_no_verdict_and_names_what_is_missing():
    rec = _record([1.0, 0.5, 0.8, 0.2, 0.9], missing_seed=5)
    text = result_block(rec)
    assert text.startswith(BEGIN + '\n') and text.endswith('\n' + END)
    flat = _flat(text)
    assert ('partial: 2 run(s) missing (16×), 4× not started; a ratio gets its verdict when its '
            'runs are complete') in flat
    assert "student alone 35.00 ± 0.79 3D mAP over 5 seeds (70.0 % of the teacher's 50.00)" in flat
    assert 'default (design (c)) +0.62 [+0.07, +1.18] (n = 4; per seed +1.00, +0.50, +0.80, ' \
        '+0.20)' in flat
    assert verdict(rec['ratios']['16x']) == ''
    assert not any(w in flat for w in ('improves', 'worse', 'No gain', 'Not decided'))
    assert "confirmatory: every run started after the protocol's commit `778f874`" in flat


@pytest.mark.parametrize('diffs,words', [
    ([1.0, 1.2, 0.8, 1.1, 0.9], '**PointDistiller default (design (c)) improves the student**: '
                                '+1.00 3D mAP, 95 % CI [+0.80, +1.20] over 5 paired seeds.'),
    ([-1.0, -1.2, -0.8, -1.1, -0.9], 'makes the student worse**: −1.00'),
    ([0.5, -0.5, 0.3, -0.3, 0.0], '**No gain was measured** for PointDistiller default (design '
                                  '(c)): the 95 % interval [−0.51, +0.51] over 5 paired seeds '
                                  'contains 0 and rules out gains above 0.51 and losses beyond '
                                  '0.51 3D mAP.'),
    ([4.0, -4.0, 3.0, -3.0, 0.0], '**Not decided yet**: the interval of PointDistiller default '
                                  '(design (c)), [−4.39, +4.39] over 5 paired seeds, contains 0 '
                                  'and is wider than ±2.0 (half-width 4.39), so seeds are added '
                                  'one at a time up to 10 (protocol amendment 1).'),
    ([4.0, -4.0, 3.0, -3.0, 0.0] * 2, 'rules out gains above 2.38 and losses beyond 2.38 3D mAP '
                                      "(after 10 seeds, the protocol's maximum, the interval is "
                                      'still wider than ±2.0).'),
    # above 0 but wider than the target before 10 seeds: an interim look, seeds are added (the
    # protocol stops on the width, not the position)
    ([6.0, 1.0, 8.0, 2.0, 3.0], '**Not decided yet**: the interval of PointDistiller default '
                                '(design (c)), [+0.38, +7.62] over 5 paired seeds, lies above 0 '
                                'for now and is wider than ±2.0 (half-width 3.62), so seeds are '
                                'added'),
    ([-6.0, -1.0, -8.0, -2.0, -3.0], 'lies below 0 for now and is wider than ±2.0'),
    ([7.0, 1.0, 9.0, 1.0, 2.0] * 2, 'improves the student**: +4.00 3D mAP, 95 % CI [+1.48, '
                                    "+6.52] over 10 paired seeds (after 10 seeds, the "
                                    "protocol's maximum, the interval is still wider than ±2.0)."),
])
def test_complete_record_reads_the_protocols_verdict(diffs, words):
    rec = _record(diffs)
    assert words in verdict(rec['ratios']['16x'])
    flat = _flat(result_block(rec))
    assert '16×: ' + verdict(rec['ratios']['16x']) in flat  # the paragraph names its ratio
    assert '4× not started; a ratio gets its verdict' in flat  # the record is still partial


def test_update_readme_replaces_only_the_block_and_needs_the_markers(tmp_path):
    readme = tmp_path / 'README.md'
    readme.write_text('# title\n\nno block here\n')
    with pytest.raises(ValueError, match='has no generated reporting-record block: put the '
                                         'lines .*<!-- end of the generated'):
        update_readme(_record([1.0] * 5), readme)
    readme.write_text(f'# title\n\nbefore\n\n{BEGIN}\nold text\n{END}\n\nafter\n')
    rec = _record([1.0, 1.2, 0.8, 1.1, 0.9])
    assert update_readme(rec, readme) is True
    text = readme.read_text()
    assert text.startswith('# title\n\nbefore\n\n' + BEGIN) and text.endswith(END + '\n\nafter\n')
    assert 'old text' not in text and block_of(text) == result_block(rec)
    assert update_readme(copy.deepcopy(rec), readme) is False  # unchanged: not rewritten


def test_write_record_touches_the_readme_only_for_the_reporting_record(tmp_path):
    from mmdet3d_pointdistiller.experiments.kd_gain_runs import write_record
    before = (REPO / 'README.md').read_text()
    rec = _record([1.0, 1.2, 0.8, 1.1, 0.9])
    rec.update(title='t', metric='m', val_frames=1, train_frames=1, data_seed=0,
               teacher=dict(map_3d=50.0, map_bev=60.0, config='c.py', checkpoint='c.pth',
                            sha256='0' * 64, car_3d_moderate=50.0, car_bev_moderate=60.0),
               command='cmd', wall_time_s=0.0)
    del rec['protocol'], rec['confirmatory']
    rec['ratios']['16x'].update(command='cmd', wall_time_s=0.0)
    write_record(rec, tmp_path / 'kd_gain_sim.json')
    assert (tmp_path / 'kd_gain_sim.md').is_file()
    assert (REPO / 'README.md').read_text() == before


def test_collapse_diagnostics_are_quoted_per_arm_and_tap():
    rec = _record([1.0, 1.2, 0.8, 1.1, 0.9])
    runs = rec['ratios']['16x']['runs']
    for s in ('1', '2'):
        runs['release'][s]['kd'] = dict(pfn_loss_ratio=0.0, pfn_out_active_t=0.0,
                                        pfn_out_active_s=0.0)
        runs['default'][s]['kd'] = dict(pfn_loss_ratio=0.1 + 0.1 * int(s),
                                        pfn_out_active_t=1.0, pfn_out_active_s=0.9)
    flat = _flat(result_block(rec))
    assert ('default (design (c)) at `pfn`: KD loss 0.25 of its start, active outputs '
            '1.00 / 0.90 over 2 run(s); release (the paper\'s design) at `pfn`: KD loss 0.00 of '
            'its start, active outputs 0.00 / 0.00 over 2 run(s).') in flat
    for r in runs.values():  # no run logged diagnostics: no bullet
        for v in r.values():
            v.pop('kd', None)
    assert 'collapse diagnostics' not in result_block(rec)


def test_the_4x_ratio_is_secondary_its_interval_without_a_verdict_or_extension():
    """Only the 16x gain has the protocol's verdict and seed extension: a complete 4x ratio
    (seeds 1-3) quotes its interval as a secondary result, whatever its width."""
    rec = _record([1.0, 1.2, 0.8, 1.1, 0.9])
    four = _record([4.0, -4.0, 3.0])['ratios']['16x']
    rec['ratios']['4x'] = four
    wide = verdict(four, '4x')
    assert wide == ('a secondary result: PointDistiller default (design (c)) +1.00 3D mAP, 95 % '
                    'CI [−9.83, +11.83] over 3 paired seeds; the protocol makes no claim on it '
                    'beyond the interval and adds no seeds to it.')
    assert verdict(four).startswith('**Not decided yet**')  # the same values read as primary
    flat = _flat(result_block(rec))
    assert '4×: ' + wide in flat and '16×: **PointDistiller default (design (c)) improves' in flat
    assert flat.count('The protocol adds seeds') == 1  # the 16x bullet only
    assert 'Not decided' not in flat and 'partial' not in flat
    assert 'no gap for distillation to close' not in flat  # students at 70 % of the teacher


def test_a_student_alone_at_the_teachers_level_is_said_to_leave_no_gap():
    rec = _record([1.0, 1.2, 0.8], student=(50.5, 49.5, 50.3))
    flat = _flat(result_block(rec))
    assert ("student alone 50.10 ± 0.53 3D mAP over 3 seeds (100.2 % of the teacher's 50.00; "
            'at or above the teacher: no gap for distillation to close)') in flat


@pytest.mark.parametrize('diffs, state', [
    ([1.0, 5.0, -3.0, 2.0, 0.0], 'now 3.62 with 5 seeds)'),
    ([1.0, 1.2, 0.8, 1.1, 0.9], '0.20 with 5 seeds: the extension ended within it)'),
    ([7.0, 1.0, 9.0, 1.0, 2.0] * 2, '2.52 with 10 seeds: the extension ended at its maximum)'),
])
def test_the_extension_sentence_says_whether_seeds_are_still_added(diffs, state):
    flat = _flat(result_block(_record(diffs)))
    assert ("The protocol adds seeds, up to 10, while the half-width of the default arm's "
            'interval exceeds 2.0 (' + state) in flat
