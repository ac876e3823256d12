"""Smoke test of ``tools/benchmark_kd_overhead.py`` (the harness
:mod:`mmdet3d_pointdistiller.bench.kd_overhead`) at tiny sizes (``--quick``).

The whole tool runs once (module fixture): every KD-loss case with dense and ours in fresh
forkserver processes, the M / N sweeps, and the train step on the real KITTI frame (cropped
range). The tests check the JSON / Markdown it writes, that dense and ours give the same loss,
that the case settings follow the shipped configs, and the measurement helpers.
"""
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mmdet3d_pointdistiller.testing.data import kitti_real_dir

REPO = Path(__file__).resolve().parents[1]
KITTI_REAL = kitti_real_dir()
HAVE_FRAME = (KITTI_REAL / '000008.bin').is_file() and (KITTI_REAL / '000008.pkl').is_file()
KD_CASES = ('pointpillars_4x', 'pointpillars_4x_single_graph', 'second_4x', 'pointrcnn_8x')


@pytest.fixture(scope='module')
def bench():
    """The benchmark harness (the forkserver workers import it by its package name)."""
    from mmdet3d_pointdistiller.bench import kd_overhead
    return kd_overhead


@pytest.fixture(scope='module')
def quick_run(bench, tmp_path_factory):
    out = tmp_path_factory.mktemp('kd_overhead')
    argv = ['--quick', '--threads', '1', '--repeats', '2', '--out-dir', str(out)]
    if HAVE_FRAME:
        argv += ['--kitti-dir', str(KITTI_REAL)]
    else:
        argv.append('--skip-train-step')
    returned = bench.main(argv)
    data = json.loads((out / 'kd_overhead.json').read_text())
    return dict(out=out, argv=argv, returned=returned, data=data,
                md=(out / 'kd_overhead.md').read_text())


def _finite_pos(x):
    return isinstance(x, float) and math.isfinite(x) and x > 0


def test_json_has_every_case_with_sane_values(quick_run):
    data = quick_run['data']
    assert data['command'] == 'python tools/benchmark_kd_overhead.py ' + ' '.join(
        quick_run['argv'])
    assert data['machine']['torch'] == torch.__version__
    assert data['machine']['torch_threads'] == 1 and data['machine']['cpu_cores'] >= 1
    for key in ('mmcv', 'mmdet3d', 'mmengine', 'cpu'):
        assert data['machine'][key]
    assert data['settings']['quick'] is True and data['settings']['repeats'] == 2
    for case in KD_CASES:
        res = data[case]
        for impl in ('dense', 'ours'):
            r = res[impl]
            assert _finite_pos(r['time_s']) and _finite_pos(r['forward_s'])
            assert r['time_s'] == pytest.approx(statistics.median(r['times_s']))
            assert len(r['times_s']) == 2
            assert math.isfinite(r['peak_mb']) and 0 <= r['peak_mb'] < 500, (case, impl)
            assert r['memory_method'] == 'linux_vmhwm_reset'
            assert r['threads'] == 1 and r['device'] == 'cpu'
            # the memory process and the timing process compute the very same loss
            assert r['loss'] == pytest.approx(r['isolated_loss'], rel=1e-6)
        # dense reference and the memory-bounded loss agree (same module, same inputs)
        assert res['dense']['loss'] > 0
        assert res['ours']['loss'] == pytest.approx(res['dense']['loss'], rel=1e-5)
        assert res['loss_rel_diff'] < 1e-5
        # (speed-up and memory ratio: test_case_summary_on_constructed_runs)
    assert len(data['second_4x']['setting']['taps']) == 2  # both BEV stages, summed


def test_sweep_points_and_fits(quick_run, bench):
    sweep = quick_run['data']['sweep']
    assert [p['M'] for p in sweep['m']['points']] == list(bench.QUICK['sweep_m'])
    assert {p['N'] for p in sweep['m']['points']} == {bench.QUICK['sweep_fixed_n']}
    assert [p['N'] for p in sweep['n']['points']] == list(bench.QUICK['sweep_n'])
    for axis in ('m', 'n'):
        for p in sweep[axis]['points']:
            assert p['ours']['loss'] == pytest.approx(p['dense']['loss'], rel=1e-5)
            assert p['ours']['peak_mb'] >= 0 and _finite_pos(p['ours']['time_s'])
        for impl in ('dense', 'ours'):  # the fit, recomputed with numpy from the points
            fit = sweep[axis][f'fit_{impl}']
            xs = np.array([p['M' if axis == 'm' else 'N'] for p in sweep[axis]['points']], float)
            ys = np.array([p[impl]['peak_mb'] for p in sweep[axis]['points']], float)
            slope, intercept = np.polyfit(xs, ys, 1)
            resid = ys - (slope * xs + intercept)
            ss_tot = float(((ys - ys.mean()) ** 2).sum())
            r2 = 1.0 - float((resid ** 2).sum()) / ss_tot if ss_tot > 0 else 1.0
            assert fit['slope_mb_per_1k'] == pytest.approx(slope * 1000, rel=1e-6, abs=1e-9)
            assert fit['intercept_mb'] == pytest.approx(intercept, rel=1e-6, abs=1e-6)
            assert fit['r2'] == pytest.approx(r2, rel=1e-6, abs=1e-9)
    # No sign is asserted at these toy sizes: a few hundred pillars allocate less than the
    # resident-set noise the peak is measured through (the slope came out negative twice under
    # load). The committed full-size record shows the growth instead:
    full = json.loads((REPO / 'benchmarks' / 'kd_overhead.json').read_text())['sweep']
    assert full['m']['fit_dense']['slope_mb_per_1k'] > 3 * full['m']['fit_ours']['slope_mb_per_1k']
    assert full['n']['fit_dense']['slope_mb_per_1k'] > 50 * full['n']['fit_ours']['slope_mb_per_1k']


def test_case_summary_on_constructed_runs(bench):
    """bench_kd_case combines the two implementations' runs: a constructed case whose
    speed-up (4x), memory ratio (3x) and loss difference are known in advance."""
    from mmdet3d_pointdistiller.bench.kd_overhead.kd_loss import bench_kd_case
    fake = dict(dense=dict(time_s=2.0, peak_mb=300.0, loss=1.0),
                ours=dict(time_s=0.5, peak_mb=100.0, loss=1.0 + 2e-6))

    def runner(worker, kwargs):
        return {impl: dict(fake[impl]) for impl in kwargs['impls']}

    out = bench_kd_case(runner, taps=[], repeats=3, threads=1, device='cpu')
    assert out['speedup'] == 4.0 and out['memory_ratio'] == 3.0
    assert out['loss_rel_diff'] == pytest.approx(2e-6)
    assert out['dense']['isolated_time_s'] == 2.0 and 'gpu_speedup' not in out


def test_train_step_distill_vs_student(quick_run):
    assert HAVE_FRAME, f'real KITTI frame 000008 not found in {KITTI_REAL}'
    t = quick_run['data']['train_step']
    assert _finite_pos(t['student_s']) and _finite_pos(t['distill_s'])
    assert t['ratio'] == pytest.approx(t['distill_s'] / t['student_s'])
    assert t['batch'] == 2 and len(t['pillars_per_sample']) == 2
    assert t['pillars'] == sum(t['pillars_per_sample']) > 0
    assert t['pillars_per_sample'][0] == t['pillars_per_sample'][1]  # the same frame twice
    assert t['kd_loss_keys'] == ['loss_pd_pfn']
    assert math.isfinite(t['last_logs']['distill']['loss_pd_pfn'])
    assert 'loss_pd_pfn' not in t['last_logs']['student']
    assert _finite_pos(t['teacher_forward_s']) and _finite_pos(t['kd_loss_fwd_bwd_s'])
    assert t['optimizer']['optimizer']['type'] == 'AdamW'
    assert 'train_step_ratio_le_1.6' in quick_run['data']['targets']


def test_markdown_report(quick_run):
    md = quick_run['md']
    assert md.startswith('# KD-overhead benchmark')
    assert quick_run['data']['command'] in md
    for case in KD_CASES:
        assert f'| {case} |' in md
    assert 'Over M at N=' in md and '/proc/self/clear_refs' in md
    assert ('### One training step' in md) == HAVE_FRAME


def test_case_settings_follow_the_shipped_configs(bench):
    cases = bench.kd_case_settings(quick=False)
    (pp, ) = cases['pointpillars_4x']['taps']
    assert pp['inputs'] == dict(layout='voxel', batch=6, elements=12000)
    assert (pp['loss']['num_queries'], pp['loss']['num_neighbors']) == (1000, 128)
    assert (pp['loss']['teacher_channels'], pp['loss']['student_channels'],
            pp['loss']['adapter_channels']) == (64, 32, 32)
    (single, ) = cases['pointpillars_4x_single_graph']['taps']
    assert single['inputs']['batch'] == 1 and single['loss']['num_queries'] == 6000
    stage0, stage1 = cases['second_4x']['taps']
    assert stage0['inputs']['spatial'] == [200, 176] and stage1['inputs']['spatial'] == [100, 88]
    assert (stage0['loss']['teacher_channels'], stage1['loss']['teacher_channels']) == (128, 256)
    assert stage0['inputs']['batch'] == 6 and stage0['loss']['num_neighbors'] == 256
    (rcnn, ) = cases['pointrcnn_8x']['taps']
    assert rcnn['inputs'] == dict(layout='point', batch=2, elements=16384)
    assert rcnn['loss']['pool'] == 'max' and rcnn['loss']['num_queries'] == 6000


def test_fit_line(bench):
    fit = bench.fit_line([1, 2, 3, 4], [3.0, 5.0, 7.0, 9.0])
    assert fit['slope'] == pytest.approx(2.0) and fit['intercept'] == pytest.approx(1.0)
    assert fit['r2'] == pytest.approx(1.0)
    noisy = bench.fit_line([1, 2, 3, 4], [1.0, 3.0, 2.0, 4.0])
    assert noisy['slope'] == pytest.approx(0.8) and noisy['r2'] == pytest.approx(0.64)
    with pytest.raises(ValueError, match='at least 2 points'):
        bench.fit_line([1], [1.0])
    with pytest.raises(ValueError, match='two distinct x values'):
        bench.fit_line([2, 2], [1.0, 3.0])


# memory.py needs only the standard library (and torch when measuring): the probe loads it
# alone, without the package's heavy __init__, so the interpreter stays bare.
_PEAK_PROBE = """
import importlib.util, json, sys
import torch
spec = importlib.util.spec_from_file_location('pd_bench_memory', sys.argv[1])
memory = importlib.util.module_from_spec(spec)
spec.loader.exec_module(memory)
PeakMemory = memory.PeakMemory
mem = PeakMemory('cpu')
mem.start()
buf = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched, then freed
del buf
peak = mem.stop()
mem.start()
idle = mem.stop()  # nothing allocated since the reset
print(json.dumps(dict(method=mem.method, peak=peak, idle=idle)))
"""


def test_peak_memory_sees_a_transient_allocation():
    """In a fresh interpreter, as in the benchmark's workers (a long-lived process may serve
    the allocation from memory it already holds)."""
    memory_py = REPO / 'mmdet3d_pointdistiller' / 'bench' / 'kd_overhead' / 'memory.py'
    out = subprocess.run([sys.executable, '-c', _PEAK_PROBE, str(memory_py)], check=True,
                         capture_output=True, text=True, timeout=120)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res['method'] == 'linux_vmhwm_reset'
    assert 60 <= res['peak'] < 200, res
    assert res['idle'] < 16, res


def test_worker_and_cli_errors(bench):
    with pytest.raises(ValueError, match='exactly one implementation'):
        bench.kd_worker(dict(taps=[], impls=['dense', 'ours'], memory=True, repeats=1,
                             threads=1, device='cpu', seed=0))
    with pytest.raises(ValueError, match='impls must be a non-empty subset of'):
        bench.kd_worker(dict(taps=[], impls=['sparse'], memory=False, repeats=1, threads=1,
                             device='cpu', seed=0))
    with pytest.raises(SystemExit):
        bench.parse_args(['--repeats', '0'])
