"""The archived v1 records of the KD-gain benchmark (600-iteration teacher, unpaired seeds,
``tools/benchmark_kd_gain.py`` as of commit 3088826) stay self-consistent, complete, and agree
with each other where they share runs.

``benchmarks/archive/kd_gain_sim_v1.json`` (PointDistiller vs the student) and
``benchmarks/archive/kd_methods_sim_v1.json`` (every earlier KD method and LD / RL ablation)
were produced with the same budget, teacher and seeds, and the latter's ``student`` and
``pointdistiller`` entries are the very same runs as the former's. The paired-seed v2 records
(``benchmarks/kd_gain_sim.json``, the 16x KD-method record) are checked in
tests/test_kd_gain_record.py.
"""
import json
import math
import shlex
import statistics
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / 'benchmarks' / 'archive'
RECORDS = ('kd_gain_sim_v1', 'kd_methods_sim_v1')


def _load(name):
    path = BENCH / f'{name}.json'
    assert path.is_file(), f'{path} is missing'
    return json.loads(path.read_text())


@pytest.mark.parametrize('name', RECORDS)
def test_record_is_what_the_tool_measured(name):
    rec = _load(name)
    seeds = rec['seeds']
    assert seeds and len(set(seeds)) == len(seeds)
    assert set(rec['runs']) == {'teacher', *rec['methods']}
    assert rec['runs']['teacher'] == [rec['teacher']['map_3d']]
    for method, config in rec['methods'].items():
        vals = rec['runs'][method]
        assert len(vals) == len(seeds), method
        assert all(0.0 <= v <= 100.0 and math.isfinite(v) for v in vals), (method, vals)
        assert len(rec['runs_bev'][method]) == len(seeds), method
        # the summary and the gains are computed from the per-seed values, not typed in
        s3 = rec['summary'][method]['3D']
        assert s3['mean'] == pytest.approx(statistics.fmean(vals), abs=1e-9)
        assert s3['std'] == pytest.approx(statistics.stdev(vals), abs=1e-9)
        if method != 'student':
            g = rec['gain_over_student'][method]
            assert g['per_seed'] == pytest.approx(
                [a - b for a, b in zip(vals, rec['runs']['student'])], abs=1e-9)
    # the command reproduces the record: the tool, the seeds and every name=config
    argv = shlex.split(rec['command'])
    assert argv[:2] == ['python', 'tools/benchmark_kd_gain.py']
    assert argv[argv.index('--seeds') + 1:][:len(seeds)] == [str(s) for s in seeds]
    for method, config in rec['methods'].items():
        assert f'{method}={config}' in argv, method
    assert rec['wall_time_s'] > 0 and rec['machine'] and rec['device']
    md = (BENCH / f'{name}.md').read_text()
    for method in rec['methods']:
        assert f'| {method} | `{rec["methods"][method]}` |' in md, method
    assert rec['command'] in md


def test_kd_methods_record_covers_every_method_and_shares_the_kd_gain_runs():
    gain, methods = _load('kd_gain_sim_v1'), _load('kd_methods_sim_v1')
    sim_configs = sorted(str(p.relative_to(REPO))
                         for p in (REPO / 'configs/sim/kd_methods').glob('*-4x_*.py'))
    assert len(sim_configs) == 9  # 7 earlier methods + LD-only + RL-only (LD+RL = pointdistiller)
    assert set(sim_configs) <= set(methods['methods'].values())
    # same budget, teacher, data and seeds as the PointDistiller benchmark ...
    for key in ('seeds', 'budget', 'data_seed', 'teacher'):
        assert methods[key] == gain[key], key
    # ... and the student / PointDistiller entries are the same runs
    for shared in ('student', 'pointdistiller'):
        assert methods['methods'][shared] == gain['methods'][shared]
        assert methods['runs'][shared] == gain['runs'][shared], shared
        assert methods['runs_bev'][shared] == gain['runs_bev'][shared], shared
