"""The committed paired-seed records (``benchmarks/kd_gain_sim*.json``, ``kd_methods_sim.json``)
are what ``tools/benchmark_kd_gain.py`` measured: every statistic recomputes from the per-run
values, the command names every method, seed and the record itself, the teacher is the shipped
zoo checkpoint, and the md is the rendering of the JSON.
"""
import copy
import json
import math
import shlex
from pathlib import Path

import pytest

from mmdet3d_pointdistiller.experiments import kd_gain_runs as TOOL
from mmdet3d_pointdistiller.experiments.kd_gain import summarise_ratio
from mmdet3d_pointdistiller.experiments.kd_gain_report import render_markdown

REPO = Path(__file__).resolve().parents[1]


def _is_paired_seed_record(path: Path) -> bool:
    rec = json.loads(path.read_text())
    return isinstance(rec, dict) and 'ratios' in rec and 'teacher' in rec


# every paired-seed record the benchmark tool wrote (kd_gain_sim*, kd_methods_sim, ...)
RECORDS = sorted(p for p in (REPO / 'benchmarks').glob('*.json') if _is_paired_seed_record(p))
# archived records of the current layout (written under their old names: their values are
# checked, not their commands); the older archive is tests/test_benchmark_records.py's
ARCHIVED = [REPO / 'benchmarks/archive/kd_gain_sim_v3_1500it.json']
# the sim zoo's records by checkpoint: {checkpoint: (record path, record)}
ZOOS = {zoo['checkpoint']: (p.relative_to(REPO).as_posix(), zoo)
        for p in sorted((REPO / 'checkpoints' / 'sim').glob('*.json'))
        for zoo in [json.loads(p.read_text())]}


def test_the_records_exist():
    assert {p.stem for p in RECORDS} >= {'kd_gain_sim', 'kd_gain_sim_tuning'}


@pytest.mark.parametrize('path', RECORDS + ARCHIVED, ids=lambda p: p.stem)
def test_statistics_recompute_from_the_per_run_values(path):
    rec = json.loads(path.read_text())
    assert rec['val_frames'] >= 300
    for ratio, entry in rec['ratios'].items():
        fresh = summarise_ratio(copy.deepcopy(entry), rec['teacher']['map_3d'])
        for key in ('missing', 'arms', *entry['methods']):  # via JSON: NaN equals NaN
            assert json.dumps(fresh[key]) == json.dumps(entry[key]), (ratio, key)
        for method, runs in entry['runs'].items():
            assert method in entry['methods']
            for seed, run in runs.items():
                assert int(seed) in entry['seeds']
                assert 0.0 <= run['map_3d'] <= 100.0 and math.isfinite(run['map_bev'])
                # the 3-class moderate mAP is the mean of the per-class moderate APs
                classes = run['ap']['3D']
                assert run['map_3d'] == pytest.approx(
                    sum(classes[c]['moderate'] for c in classes) / len(classes), abs=1e-9)
                assert run['car_3d_moderate'] == classes['Car']['moderate']


@pytest.mark.parametrize('path', RECORDS, ids=lambda p: p.stem)
def test_command_reproduces_the_record(path):
    rec = json.loads(path.read_text())
    for entry in rec['ratios'].values():
        argv = shlex.split(entry['command'])
        assert argv[:2] == ['python', 'tools/benchmark_kd_gain.py']
        assert argv[argv.index('--out') + 1] == path.relative_to(REPO).with_suffix('').as_posix()
        seeds = argv[argv.index('--seeds') + 1:]
        assert seeds[:len(entry['seeds'])] == [str(s) for s in entry['seeds']]
        named = argv[argv.index('--methods') + 1:] if '--methods' in argv else None
        for method, config in entry['methods'].items():
            if named is not None:
                assert f'{method}={config}' in named, method
            else:  # the tool's default methods of that ratio
                assert TOOL.DEFAULT_METHODS[argv[argv.index('--ratio') + 1]][method] == config
            assert (REPO / config).is_file(), config
        # a record is written before its first run finishes (every run missing, no time yet)
        assert entry['wall_time_s'] > 0 or not any(entry['runs'].values())


@pytest.mark.parametrize('path', RECORDS, ids=lambda p: p.stem)
def test_teacher_is_a_shipped_zoo_checkpoint_and_the_md_renders_the_json(path):
    """The record's teacher is a shipped zoo checkpoint, and its command selects that one (the
    tool's default teacher, or ``--teacher-record`` naming its zoo record)."""
    rec = json.loads(path.read_text())
    teacher = rec['teacher']
    assert not Path(teacher['config']).is_absolute()
    assert (REPO / teacher['config']).is_file() and (REPO / teacher['checkpoint']).is_file()
    zoo_path, zoo = ZOOS[teacher['checkpoint']]
    assert teacher['sha256'] == zoo['sha256']
    assert teacher['map_3d'] == pytest.approx(zoo['map_3d'])
    for entry in rec['ratios'].values():
        argv = shlex.split(entry['command'])
        chosen = (argv[argv.index('--teacher-record') + 1] if '--teacher-record' in argv
                  else TOOL.ZOO_RECORD)
        assert chosen == zoo_path
    assert path.with_suffix('.md').read_text() == render_markdown(rec)
    for key in ('plot', 'gains_plot'):
        if rec.get(key):
            assert (path.parent / rec[key]).is_file(), rec[key]


def test_runs_shared_between_records_are_the_same_runs():
    """A run (ratio, method, seed, config hash) in several records has the same results in each:
    e.g. the KD-method record's student and PointDistiller runs are the KD-gain record's."""
    seen = {}
    shared = 0
    for path in RECORDS + ARCHIVED:
        rec = json.loads(path.read_text())
        for ratio, entry in rec['ratios'].items():
            for method, runs in entry['runs'].items():
                for seed, run in runs.items():
                    key = (ratio, method, seed, run['config_hash'])
                    if key in seen:
                        shared += 1
                        assert run['ap'] == seen[key][1], (key, path.stem, seen[key][0])
                    else:
                        seen[key] = (path.stem, run['ap'])
    if (REPO / 'benchmarks' / 'kd_methods_sim.json').is_file():
        assert shared >= 6  # its student and PointDistiller runs on seeds 1-3


def _record(teacher, kd_values, seeds, budget=None):
    runs = {str(s): dict(map_3d=v, map_bev=2 * v, car_3d_moderate=v / 2)
            for s, v in zip(seeds, kd_values)}
    return dict(teacher=dict(checkpoint=teacher), budget=budget or dict(iters=1500),
                val_frames=300, train_frames=1500,
                ratios={'16x': dict(methods=dict(pointdistiller='kd.py'),
                                    runs=dict(pointdistiller=runs))})


def test_compare_records_pairs_one_method_across_two_records_by_seed(capsys):
    """B - A on the shared seeds (1 and 3 here), with a Student-t interval; mismatched
    records are refused with the differing key named."""
    from mmdet3d_pointdistiller.experiments.kd_gain import compare_records
    a = _record('t1.pth', [8.0, 6.0, 7.0], [1, 2, 3])
    b = _record('t2.pth', [9.0, 5.0], [1, 3])
    out = compare_records(a, b, '16x', 'pointdistiller')
    assert out['seeds'] == [1, 3] and out['teachers'] == ['t1.pth', 't2.pth']
    g = out['map_3d']
    assert g['diffs'] == [1.0, -2.0] and g['mean'] == pytest.approx(-0.5)
    # t(0.975, 1) = 12.706: half-width 12.706 * sd / sqrt(2), sd = 2.1213
    assert g['ci95'][1] - g['mean'] == pytest.approx(12.706 * 2.1213 / math.sqrt(2), rel=1e-3)
    assert out['map_bev']['diffs'] == [2.0, -4.0]
    assert out['car_3d_moderate']['diffs'] == [0.5, -1.0]
    with pytest.raises(ValueError, match='differ in budget'):
        compare_records(a, _record('t2.pth', [1.0], [1], budget=dict(iters=6000)), '16x',
                        'pointdistiller')
    with pytest.raises(ValueError, match="no method 'crd'"):
        compare_records(a, b, '16x', 'crd')
    with pytest.raises(ValueError, match="no ratio '4x'"):
        compare_records(a, b, '4x', 'pointdistiller')
    with pytest.raises(ValueError, match='no seed has a finished'):
        compare_records(a, _record('t2.pth', [1.0], [9]), '16x', 'pointdistiller')
    # the CLI prints the same numbers
    assert TOOL.compare([str(REPO / 'benchmarks/kd_gain_sim_teacher1.json'),
                         str(ARCHIVED[0])], '16x', 'pointdistiller') == 0
    text = capsys.readouterr().out
    assert 'B - A' in text and '3D mAP:' in text and 'per seed' in text
