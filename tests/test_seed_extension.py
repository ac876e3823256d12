"""The protocol's seed-extension rule (``experiments/seed_extension.py``) and the benchmark's
loop over it (``kd_gain_runs.run_extended``)."""
import json
import random
from argparse import Namespace

import pytest

from mmdet3d_pointdistiller.experiments import kd_gain_runs
from mmdet3d_pointdistiller.experiments.seed_extension import (certain_seed_count,
                                                               extension_seeds,
                                                               half_width_bound)
from mmdet3d_pointdistiller.utils.paired_stats import paired_gain

#: the reporting record's 16x default - student differences, seeds 1-6
REPORTED = [0.9813, 0.33013, 8.2545, 1.2836, 2.22303, -1.24287]


def _half_width(diffs):
    g = paired_gain(list(diffs), [0.0] * len(diffs))
    return (g['ci95'][1] - g['ci95'][0]) / 2


def test_bound_at_the_observed_count_is_the_observed_half_width():
    mean = sum(REPORTED[:5]) / 5
    sum_sq = sum((d - mean) ** 2 for d in REPORTED[:5])
    assert half_width_bound(sum_sq, 5) == pytest.approx(_half_width(REPORTED[:5]), rel=1e-9)
    assert half_width_bound(sum_sq, 5) == pytest.approx(4.005, abs=1e-3)  # the record's 4.01


def test_no_continuation_can_beat_the_bound():
    """Whatever the next differences are (the mean itself included), the half-width at n'
    seeds is at least the bound computed from the first n."""
    rng = random.Random(0)
    first = REPORTED[:5]
    mean = sum(first) / 5
    sum_sq = sum((d - mean) ** 2 for d in first)
    for n_total in (6, 7, 8, 9, 10):
        bound = half_width_bound(sum_sq, n_total)
        at_mean = first + [mean] * (n_total - 5)  # the continuation that attains the bound
        assert _half_width(at_mean) == pytest.approx(bound, rel=1e-9)
        for _ in range(50):
            more = [rng.gauss(mean, rng.choice((0.1, 1.0, 5.0))) for _ in range(n_total - 5)]
            assert _half_width(first + more) >= bound - 1e-9


@pytest.mark.parametrize('diffs,max_seeds,expected', [
    (REPORTED[:5], 10, 9),  # bounds 3.03, 2.44, 2.04 at 6, 7, 8: seed 9 runs for sure
    (REPORTED[:6], 10, 9),  # bound at 9 is 1.997: seed 10 depends on seeds 7-9
    (REPORTED[:5], 7, 7),  # capped by the maximum
    ([1.0, 1.1, 0.9, 1.0, 1.05], 10, 5),  # within the target already: no seed added
    ([4.0, -4.0, 3.0, -3.0, 0.0] * 2, 10, 10),  # at the maximum: nothing to add
])
def test_certain_seed_count(diffs, max_seeds, expected):
    assert certain_seed_count(diffs, 2.0, max_seeds) == expected


def test_extension_seeds_continue_the_numbering_and_refuse_incomplete_input():
    assert extension_seeds([1, 2, 3, 4, 5], REPORTED[:5], 2.0, 10) == [6, 7, 8, 9]
    assert extension_seeds([1, 2, 3, 4, 5], [1.0, 1.1, 0.9, 1.0, 1.05], 2.0, 10) == []
    with pytest.raises(ValueError, match='5 seeds but 4 paired differences'):
        extension_seeds([1, 2, 3, 4, 5], REPORTED[:4], 2.0, 10)
    with pytest.raises(ValueError, match='>= 2 seeds'):
        certain_seed_count([1.0], 2.0, 10)
    with pytest.raises(ValueError, match='must be positive'):
        certain_seed_count(REPORTED, 0.0, 10)


def _args(tmp_path, seeds, **kw):
    out = tmp_path / 'rec'
    return Namespace(seeds=list(seeds), ratio='16x', out=str(out), until_half_width=2.0,
                     max_seeds=10, **kw), out.with_suffix('.json')


def test_run_extended_trains_the_certain_seeds_then_checks_again(tmp_path, monkeypatch):
    """Seeds 1-5 give the reported differences; 6-9 are certain and trained in one call;
    the next call decides on nine seeds (here close to the mean: within 2.0, stop)."""
    monkeypatch.setattr(kd_gain_runs, 'REPO', tmp_path.parent)
    args, out_json = _args(tmp_path, [1, 2, 3, 4, 5])
    args.out = str(out_json.with_suffix('').relative_to(tmp_path.parent))
    diffs = {**dict(zip(range(1, 6), REPORTED[:5])), **{s: 2.6 for s in range(6, 11)}}
    calls = []

    def fake_train(a, command):
        calls.append(list(a.seeds))
        d = [diffs[s] for s in a.seeds]
        g = paired_gain(d, [0.0] * len(d), seeds=list(a.seeds))
        out_json.write_text(json.dumps(dict(ratios={'16x': dict(paired_gain=g)})))
        return 0

    assert kd_gain_runs.run_extended(args, 'cmd', train=fake_train) == 0
    assert calls == [[1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]]
    assert _half_width([diffs[s] for s in range(1, 10)]) <= 2.0


def test_run_extended_refuses_bad_options_and_incomplete_records(tmp_path, monkeypatch):
    monkeypatch.setattr(kd_gain_runs, 'REPO', tmp_path)
    args, out_json = _args(tmp_path, [1])
    with pytest.raises(SystemExit, match='needs >= 2 --seeds'):
        kd_gain_runs.run_extended(args, 'cmd', train=lambda a, c: 0)
    args, out_json = _args(tmp_path, [1, 2, 3])
    args.until_half_width = -1.0
    with pytest.raises(SystemExit, match='--until-half-width must be positive'):
        kd_gain_runs.run_extended(args, 'cmd', train=lambda a, c: 0)
    args, out_json = _args(tmp_path, [1, 2, 3])
    args.out = 'rec'

    def partial(a, c):  # seed 3's pair did not finish
        g = paired_gain([1.0, 5.0], [0.0, 0.0], seeds=[1, 2])
        out_json.write_text(json.dumps(dict(ratios={'16x': dict(paired_gain=g)})))
        return 0
    with pytest.raises(SystemExit, match=r'paired runs for seeds \[1, 2\], not \[1, 2, 3\]'):
        kd_gain_runs.run_extended(args, 'cmd', train=partial)
    args.until_half_width = None  # without the option: one call, no extension
    assert kd_gain_runs.run_extended(args, 'cmd', train=partial) == 0
