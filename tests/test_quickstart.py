"""The simulated-data CPU configs, the quickstart (tools/quickstart.py) and the KD-gain benchmark.

Fast tests: configs, budget options, metric parsing and the paper-style table, progress / ETA,
stage reuse decisions, FLOPs/params against the paper's PointPillars numbers on the real KITTI
frame, benchmark report. ``-m slow``: the whole quickstart at the ``tiny`` budget (simulate,
convert, three real ``mim train`` runs, evaluation, pictures, summary), its re-run (every stage
reused), and a two-seed KD-gain benchmark on its teacher.
"""
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

import mmdet3d_pointdistiller  # noqa: F401
from mmdet3d_pointdistiller.experiments import kd_gain_runs
from mmdet3d_pointdistiller.quickstart import metrics as qm
from mmdet3d_pointdistiller.quickstart import dataset as qd
from mmdet3d_pointdistiller.quickstart import jobs as qj
from mmdet3d_pointdistiller.quickstart import progress as qprog
from mmdet3d_pointdistiller.quickstart import settings as qs
from mmdet3d_pointdistiller.utils.json_io import write_json
from mmdet3d_pointdistiller.testing import kitti_real_dir

REPO = Path(__file__).resolve().parents[1]
KITTI_REAL = kitti_real_dir()
SIM = REPO / 'configs' / 'sim'
TEACHER = REPO / qs.CONFIGS['teacher']
STUDENT = REPO / qs.CONFIGS['student']
KD = REPO / qs.CONFIGS['pointdistiller']
ZOO_ITERS = json.loads((REPO / qs.ZOO_RECORD).read_text())['train_iters']  # 3000
KITTI_STUDENT = REPO / 'configs/_base_/students/pointpillars-16x_hv_secfpn_8xb6-160e_kitti-3d-3class.py'  # noqa: E501


# ----------------------------------------------------------------------------- configs
def test_sim_configs_share_data_grid_and_schedule(monkeypatch):
    monkeypatch.setenv('PD_SIM_KITTI', '/data/somewhere/')
    t, s, k = (Config.fromfile(str(p)) for p in (TEACHER, STUDENT, KD))
    pcr = [0, -20.48, -3, 40.96, 20.48, 1]
    for cfg in (t, s):
        vl = cfg.model.data_preprocessor.voxel_layer
        assert vl.point_cloud_range == pcr and vl.voxel_size == [0.32, 0.32, 4]
        assert cfg.model.middle_encoder.output_shape == [128, 128]  # 40.96 / 0.32
        assert cfg.model.voxel_encoder.point_cloud_range == pcr
        for r in cfg.model.bbox_head.anchor_generator.ranges:
            assert (r[0], r[1], r[3], r[4]) == (0, -20.48, 40.96, 20.48)
        ds = cfg.train_dataloader.dataset.dataset
        assert ds.data_root == '/data/somewhere/'
        sample = [p for p in ds.pipeline if p['type'] == 'ObjectSample'][0]
        assert sample['db_sampler']['info_path'] == '/data/somewhere/kitti_dbinfos_train.pkl'
        for p in ds.pipeline:
            if p['type'] in ('PointsRangeFilter', 'ObjectRangeFilter'):
                assert p['point_cloud_range'] == pcr
        inner = cfg.test_dataloader.dataset.pipeline[1]['transforms']
        assert [p for p in inner if p['type'] == 'PointsRangeFilter'][0]['point_cloud_range'] \
            == pcr
        assert cfg.val_evaluator.ann_file == '/data/somewhere/kitti_infos_val.pkl'
        assert cfg.train_cfg.type == 'IterBasedTrainLoop'
        assert cfg.default_hooks.logger.log_metric_by_epoch is False
    # student = teacher with exactly the KITTI 16x student's widths
    kitti_s = Config.fromfile(str(KITTI_STUDENT)).model
    for key in ('voxel_encoder', 'middle_encoder', 'backbone', 'neck', 'bbox_head'):
        for field in ('feat_channels', 'in_channels', 'out_channels'):
            if field in kitti_s[key]:
                assert s.model[key][field] == kitti_s[key][field], (key, field)
    assert t.model.backbone.out_channels == [64, 128, 256]  # stock teacher widths
    # the KD config: same student, the sim teacher, N and K scaled to the grid
    assert k.model.type == 'PointDistillerDetector' and k.model.distill is True
    assert k.model.student == s.model
    assert Path(k.model.teacher.cfg_path).resolve() == TEACHER.resolve()
    assert k.model.teacher_ckpt == qs.ZOO_TEACHER
    loss = k.model.distill_cfg[0].loss
    assert (loss.num_queries, loss.num_neighbors, loss.temperature) == (256, 32, 8.0)
    assert k.train_dataloader == s.train_dataloader and k.param_scheduler == s.param_scheduler


def test_budget_options_give_a_consistent_schedule():
    opts = qs.budget_cfg_options(300, 2, seed=5, batch_size=2)
    cfg = Config.fromfile(str(TEACHER))
    cfg.merge_from_dict(dict(o.split('=', 1) for o in opts))
    cfg = Config.fromstring(cfg.pretty_text, '.py')  # options arrive as strings in mim
    assert int(cfg.train_cfg.max_iters) == 300 and int(cfg.train_cfg.val_interval) == 150
    assert int(cfg.default_hooks.checkpoint.interval) == 150
    warm, cos = cfg.param_scheduler
    assert int(warm.end) == 50 and int(cos.begin) == 50 and int(cos.end) == 300
    assert int(cos.T_max) == 250 and int(cfg.randomness.seed) == 5
    assert qs.budget_cfg_options(4, 1, 0)[:2] == ['train_cfg.max_iters=4',
                                                  'train_cfg.val_interval=4']
    with pytest.raises(ValueError, match='iters and evals must be >= 1'):
        qs.budget_cfg_options(0, 1, 0)


# ----------------------------------------------------------------------------- metrics
def _metrics(offset=0.0):
    m = {}
    for ci, c in enumerate(qm.CLASSES):
        for vi, v in enumerate(('BEV', '3D', '2D')):
            for di, d in enumerate(qm.DIFFICULTIES):
                m[f'{qm.PREFIX}{c}_{v}_AP40_{d}_strict'] = 10 * ci + 3 * vi + di + offset
                m[f'{qm.PREFIX}{c}_{v}_AP40_{d}_loose'] = 99.0
    return m


def test_extract_ap40_and_the_paper_table():
    ap = qm.extract_ap40(_metrics())
    assert ap['3D']['Cyclist']['hard'] == 20 + 3 + 2
    assert qm.moderate_map(ap, 'BEV') == pytest.approx((1 + 11 + 21) / 3)
    rows = [dict(name='T', kd=False, gflops=12.345, params_m=4.834, latency_ms=321.6, ap=ap),
            dict(name='S+KD', kd=True, gflops=3.2, params_m=1.2, latency_ms=99.4,
                 ap=qm.extract_ap40(_metrics(0.5)))]
    table = qm.format_table(rows, '3D').splitlines()
    assert table[0].startswith('| Model | GFLOPs | Params (M) | CPU ms/frame | KD | Car E |')
    assert table[2] == ('| T | 12.3 | 4.83 | 322 | × | 3.0 | 4.0 | 5.0 | 13.0 | 14.0 | 15.0 | '
                        '23.0 | 24.0 | 25.0 | 14.00 |')
    assert table[3].split(' | ')[4] == '✓' and table[3].endswith('| 14.50 |')
    bad = _metrics()
    del bad[qm.metric_key('Car', 'BEV', 'hard')]
    with pytest.raises(KeyError, match='Car_BEV_AP40_hard_strict'):
        qm.extract_ap40(bad)


def test_final_val_metrics_picks_the_validation_at_the_step(tmp_path):
    d = tmp_path / '20260101_000000' / 'vis_data'
    d.mkdir(parents=True)
    recs = [dict(iter=1, loss=1.0, step=1), dict(_metrics(1.0), step=2),
            dict(iter=3, loss=0.5, step=3), dict(_metrics(2.0), step=4)]
    (d / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in recs))
    assert qm.final_val_metrics(str(tmp_path))['step'] == 4
    assert qm.final_val_metrics(str(tmp_path), step=2)[qm.metric_key('Car', '3D', 'easy')] == 4.0
    with pytest.raises(LookupError, match='at step 3'):
        qm.final_val_metrics(str(tmp_path), step=3)


def test_val_curve_lists_every_validation_in_step_order(tmp_path):
    """Two log folders (a resumed run): steps sorted, a re-logged step keeps its last
    record, training records ignored, moderate values per class and view."""
    first = [dict(_metrics(1.0), step=2), dict(iter=3, loss=0.5, step=3),
             dict(_metrics(5.0), step=4)]
    resumed = [dict(_metrics(2.0), step=4), dict(_metrics(3.0), step=6)]
    for stamp, recs in (('20260101_000000', first), ('20260102_000000', resumed)):
        d = tmp_path / stamp / 'vis_data'
        d.mkdir(parents=True)
        (d / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in recs))
    curve = qm.val_curve(str(tmp_path))
    assert [c['iter'] for c in curve] == [2, 4, 6]
    # 3D moderate of class ci: 10 * ci + 3 + 1 + offset; mean over ci = 14 + offset
    assert [c['map_3d'] for c in curve] == pytest.approx([15.0, 16.0, 17.0])
    assert curve[1]['car_3d_moderate'] == 4.0 + 2.0 and curve[1]['car_bev_moderate'] == 1.0 + 2.0
    assert curve[0]['map_bev'] == pytest.approx(11.0 + 1.0)
    (tmp_path / 'train_only' / 'x' / 'vis_data').mkdir(parents=True)
    (tmp_path / 'train_only' / 'x' / 'vis_data' / 'scalars.json').write_text(
        json.dumps(dict(iter=1, loss=1.0, step=1)))
    assert qm.val_curve(str(tmp_path / 'train_only')) == []
    with pytest.raises(FileNotFoundError, match='scalars.json under'):
        qm.val_curve(str(tmp_path / 'none'))


# ----------------------------------------------------------------------------- progress
def test_progress_eta_is_rescaled_by_the_measured_speed(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(qprog.time, 'perf_counter', lambda: clock[0])
    out = io.StringIO()
    p = qprog.Progress({'a': 10.0, 'b': 20.0, 'c': 30.0}, stream=out)
    p.start('a', 'first')
    clock[0] += 20.0  # stage a takes twice its estimate
    p.update(0.5, 'half')
    p.finish()
    p.start('b', 'second')
    assert p.speed == pytest.approx(2.0)
    clock[0] += 10.0
    p.update(0.25, 'quarter')
    lines = out.getvalue().splitlines()
    assert lines[0] == '[quickstart 1/3] first | elapsed 0s, ETA 1m00s'
    # a: 20 s elapsed at 50 % -> 20 s left; b and c not started: estimates (50 s)
    assert lines[1] == '[quickstart 1/3 a] half | stage 20s, ETA 20s | total 20s, ETA 1m10s'
    assert lines[2].startswith('[quickstart 1/3 a] done in 20s')
    # b: 10 s at 25 % -> 30 s left; c: 30 s estimate x measured speed 2 = 60 s
    assert lines[4] == ('[quickstart 2/3 b] quarter | stage 10s, ETA 30s | total 30s, '
                        'ETA 1m30s')
    assert qprog.fmt_seconds(3725) == '1h02m05s'


_NUMBA_PROBE = """
import numpy as np, torch
import mmdet3d_pointdistiller  # noqa: F401 (the compat shims, as in training)
from mmdet3d.evaluation.functional.kitti_utils.eval import d3_box_overlap
before = torch.get_num_threads()
boxes = np.random.rand(8, 7); boxes[:, 3:6] += 1
d3_box_overlap(boxes, boxes, -1)  # KittiMetric's numba.jit(parallel=True) 3D IoU
print('threads', before, torch.get_num_threads())
"""


def test_subprocess_env_keeps_torch_on_its_threads_after_kitti_evaluation(tmp_path):
    """mmdet3d's parallel numba IoU kernel (every KittiMetric validation) starts numba's
    OpenMP layer with one thread per core and thereby raises torch's thread count; the
    training subprocesses' environment pins numba to the same count."""
    env = qj.subprocess_env(tmp_path, 1)
    assert env['NUMBA_NUM_THREADS'] == env['OMP_NUM_THREADS'] == '1'
    out = subprocess.run([sys.executable, '-c', _NUMBA_PROBE], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'threads 1 1' in out.stdout


@pytest.mark.slow  # ~20 s (numba compiles the kernel again); shows why the variable is set
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason='one core: numba cannot raise the count')
def test_without_numba_num_threads_kitti_evaluation_raises_torch_threads(tmp_path):
    bare = qj.subprocess_env(tmp_path, 1)
    del bare['NUMBA_NUM_THREADS']
    out = subprocess.run([sys.executable, '-c', _NUMBA_PROBE], env=bare, cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    before, after = map(int, out.stdout.split('threads')[1].split())
    assert before == 1 and after > 1


def test_train_job_reuses_resumes_or_restarts(tmp_path):
    env = dict(os.environ)
    cfg = qs.CONFIGS['student']
    wd = tmp_path / 'student'
    job = qj.TrainJob('student', cfg, wd, 8, 1, 0, env)
    assert job.mode == 'new' and job.ran
    wd.mkdir()
    (wd / 'stray.txt').write_text('x')
    with pytest.raises(SystemExit, match='not written by the quickstart'):
        qj.TrainJob('student', cfg, wd, 8, 1, 0, env)
    write_json(wd / qj.MARKER, dict(config=cfg, cfg_options=job.options, finished=False,
                                    config_hash=job.config_hash))
    (wd / 'last_checkpoint').write_text(str(wd / 'iter_4.pth'))
    job = qj.TrainJob('student', cfg, wd, 8, 1, 0, env)
    assert job.mode == 'resume' and '--resume' in job.command()
    write_json(wd / qj.MARKER, dict(config=cfg, cfg_options=job.options, finished=True,
                                    seconds=12.0, config_hash=job.config_hash))
    (wd / 'iter_8.pth').write_bytes(b'0')
    job = qj.TrainJob('student', cfg, wd, 8, 1, 0, env)
    assert job.mode == 'reuse' and not job.ran and job.seconds == 12.0
    assert qj.TrainJob('student', cfg, wd, 8, 1, 0, env, force=True).mode == 'new'
    assert qj.TrainJob('student', cfg, wd, 9, 1, 0, env).mode == 'new'  # other budget
    assert qj.TrainJob('student', cfg, wd, 8, 1, 1, env).mode == 'new'  # other seed
    other_root = dict(env, PD_SIM_KITTI='/elsewhere/')  # other resolved config
    assert qj.TrainJob('student', cfg, wd, 8, 1, 0, other_root).mode == 'new'
    cmd = qj.TrainJob('student', cfg, wd, 8, 1, 0, env, extra_options=['a.b=1']).command()
    assert cmd[1:3] == ['train', 'mmdet3d'] and cmd[-1] == 'a.b=1'


class _StopAfterTeacher(Exception):
    pass


@pytest.mark.parametrize('budget,teacher_iters,stages', [
    ('full', None, ['teacher', 'teacher_ft']),  # the zoo recipe: stage 1, then stage 2
    ('full', 40, ['teacher']),  # a custom teacher budget: one budgeted run
    ('tiny', None, ['teacher'])])
def test_train_teacher_runs_the_zoo_stages_in_order(tmp_path, monkeypatch, budget,
                                                    teacher_iters, stages):
    """``--train-teacher``: on the full budget the shipped teacher's two stages, the second
    from the first's final weights with seed + 1 (the zoo's seeds 0 and 1); otherwise one
    run with the budget's schedule. Training is intercepted after the teacher stage."""
    from mmdet3d_pointdistiller.quickstart import pipeline
    ran = []

    def fake_run(jobs, progress, parallel):
        assert not parallel
        ran.extend(jobs)
        if len(ran) == len(stages):
            raise _StopAfterTeacher
    monkeypatch.setattr(pipeline, 'ensure_dataset', lambda *a, **k: False)
    monkeypatch.setattr(pipeline, 'run_train_jobs', fake_run)
    with pytest.raises(_StopAfterTeacher):
        pipeline.run_quickstart(budget, work_dir=str(tmp_path / 'qs'),
                                data_root=str(tmp_path / 'data'), train_teacher=True,
                                teacher_iters=teacher_iters, stream=io.StringIO(), seed=3)
    assert [j.name for j in ran] == stages
    assert ran[0].config == qs.TEACHER_TRAIN_CONFIG and 'randomness.seed=3' in ran[0].options
    if budget == 'full' and teacher_iters is None:
        first, second = ran
        assert first.iters == Config.fromfile(
            str(REPO / qs.TEACHER_TRAIN_CONFIG)).train_cfg.max_iters
        assert first.options == ['randomness.seed=3']  # the config's own schedule
        assert second.config == qs.TEACHER_FT_CONFIG and second.iters == qs.TEACHER_FT_ITERS
        assert second.options == ['randomness.seed=4', f'load_from={first.ckpt}']
    else:
        assert ran[0].iters == (teacher_iters or qs.BUDGETS[budget].teacher_iters)
        assert not any(o.startswith('load_from') for o in ran[0].options)


def test_dataset_ready_checks_the_split_sizes(tmp_path):
    b = qs.Budget(num_train=2, num_val=1, teacher_iters=1, student_iters=1)
    assert not qd.dataset_ready(tmp_path, b)[0]
    for n in ('kitti_infos_train.pkl', 'kitti_infos_val.pkl', 'kitti_dbinfos_train.pkl'):
        (tmp_path / n).write_bytes(b'')
    (tmp_path / 'ImageSets').mkdir()
    (tmp_path / 'ImageSets/train.txt').write_text('000000\n000001\n')
    (tmp_path / 'ImageSets/val.txt').write_text('000002\n000003\n')
    ok, why = qd.dataset_ready(tmp_path, b)
    assert not ok and "{'train': 2, 'val': 2}" in why
    (tmp_path / 'ImageSets/val.txt').write_text('000002\n')
    assert qd.dataset_ready(tmp_path, b) == (True, '2 train + 1 val frames')
    progress = qprog.Progress({'data': 1.0}, stream=io.StringIO())
    progress.start('data', 'data')
    assert qd.ensure_dataset(tmp_path, b, 0, False, progress) is False  # reused
    with pytest.raises(SystemExit, match='unknown simulator seed'):
        qd.ensure_dataset(tmp_path, b, 3, False, progress)


# ----------------------------------------------------------------------------- complexity
def test_flops_and_params_reproduce_the_paper_for_kitti_pointpillars():
    if not (KITTI_REAL / '000008.bin').is_file():
        pytest.fail(f'real KITTI frame not found under {KITTI_REAL}')
    import torch
    from mmengine.hub import get_config
    from mmdet3d_pointdistiller.quickstart.complexity import (count_flops, count_params,
                                                              measure_latency)
    from mmdet3d_pointdistiller.apis import load_detector, load_frame
    torch.manual_seed(0)
    # paper Table 1: teacher 34.3 GFLOPs / 4.8 M, 4x student 9.0 GFLOPs / 1.3 M
    stock = get_config('mmdet3d::pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py')
    for cfg, gflops, params in ((stock, 34.42, 4.835),
                                (str(REPO / 'configs/pointpillars/'
                                     'pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py'),
                                 9.04, 1.217)):
        model, cfg = load_detector(cfg)
        data = load_frame(cfg, str(KITTI_REAL / '000008.bin'))
        f = count_flops(model, [data])
        assert f['gflops'] == pytest.approx(gflops, abs=0.01)
        assert count_params(model) / 1e6 == pytest.approx(params, abs=0.001)
        dense = f['per_module']['backbone'] + f['per_module']['neck'] + f['per_module']['bbox_head']
        assert f['gflops'] - dense == pytest.approx(f['per_module']['voxel_encoder'])
    lat = measure_latency(model, [data], warmup=1)
    assert lat['frames'] == 1 and lat['median_ms'] > 0 and lat['threads'] >= 1
    with pytest.raises(ValueError, match='batches of one frame'):
        count_flops(model, [dict(data_samples=[1, 2])])


# ----------------------------------------------------------------------------- benchmark
def test_benchmark_methods():
    bench = kd_gain_runs
    methods = bench.parse_methods([f'{k}={v}' for k, v in bench.DEFAULT_METHODS['16x'].items()])
    assert list(methods) == ['student', 'pointdistiller']
    assert not bench.needs_teacher(methods['student']) and bench.needs_teacher(
        methods['pointdistiller'])
    for bad, msg in ((['x'], 'name=config'), (['a=configs/none.py'], 'does not exist'),
                     ([f"pointdistiller={methods['pointdistiller']}"], 'needs a student'),
                     ([f"student={methods['student']}"] * 2, 'given twice')):
        with pytest.raises(SystemExit, match=msg):
            bench.parse_methods(bad)
    with pytest.raises(SystemExit, match='train and ship the teacher'):
        bench.load_teacher('checkpoints/sim/none.json')


def _run_entry(map_3d, map_bev, car):
    ap = {v: {c: {d: 0.0 for d in ('easy', 'moderate', 'hard')}
              for c in ('Car', 'Pedestrian', 'Cyclist')} for v in ('BEV', '3D')}
    return dict(map_3d=map_3d, map_bev=map_bev, car_3d_moderate=car, car_bev_moderate=car,
                ap=ap, config_hash='h', options=[], seconds=1.0, kd=None)


def _kd_record(entry: dict, budget: dict, teacher_map: float) -> dict:
    """A KD-gain record around one summarised 16x ratio entry (a made-up teacher)."""
    return dict(teacher=dict(config='t.py', checkpoint='t.pth', sha256='ab' * 32,
                             map_3d=teacher_map, map_bev=30.0, car_3d_moderate=50.0,
                             car_bev_moderate=70.0),
                metric='m', val_frames=300, train_frames=1500, data_seed=0, budget=budget,
                ratios={'16x': entry})


def test_kd_gain_record_statistics_and_partial_report(tmp_path):
    from mmdet3d_pointdistiller.experiments.kd_gain import summarise_ratio
    from mmdet3d_pointdistiller.experiments.kd_gain_report import (plot_kd_curves,
                                                                   plot_paired_gains,
                                                                   render_markdown, write_report)
    runs = dict(student={'1': _run_entry(10.0, 20.0, 30.0), '2': _run_entry(12.0, 21.0, 31.0),
                         '3': _run_entry(11.0, 22.0, 29.0)},
                pointdistiller={'1': _run_entry(11.0, 21.0, 31.0),
                                '2': _run_entry(14.0, 22.0, 33.0)},
                frozen={'1': _run_entry(10.5, 20.0, 30.0), '2': _run_entry(12.5, 21.0, 31.0),
                        '3': _run_entry(11.5, 22.0, 29.0)})
    entry = dict(methods=dict(student='s.py', pointdistiller='pd.py', frozen='f.py'),
                 seeds=[1, 2, 3], runs=runs, command='python tools/benchmark_kd_gain.py x',
                 wall_time_s=5.0, machine='m', threads=1, jobs=2)
    summarise_ratio(entry, teacher_map=21.0)
    assert entry['student'] == [10.0, 12.0, 11.0]
    assert entry['pointdistiller'] == [11.0, 14.0, None]
    assert entry['missing'] == ['pointdistiller seed 3']
    g = entry['paired_gain']  # seeds 1 and 2 only: diffs 1 and 2
    assert g['seeds'] == [1, 2] and g['diffs'] == [1.0, 2.0] and g['mean'] == 1.5
    half = 12.7062047 * math.sqrt(0.5) / math.sqrt(2)
    assert g['ci95'] == pytest.approx([1.5 - half, 1.5 + half], abs=1e-5)
    assert entry['gap_closed'] == pytest.approx(1.5 / (21.0 - 11.0))
    frozen = entry['arms']['frozen']
    assert frozen['paired_gain']['diffs'] == [0.5, 0.5, 0.5]
    assert frozen['paired_gain']['ci95'] == pytest.approx([0.5, 0.5])  # no spread
    assert frozen['vs_pointdistiller']['diffs'] == [-0.5, -1.5]
    rec = _kd_record(entry, dict(iters=600, batch_size=2), teacher_map=21.0)
    md = render_markdown(rec)
    assert '| student | `s.py` | 10.00 | 12.00 | 11.00 | 11.00 | 21.00 |' in md
    assert '| pointdistiller | `pd.py` | 11.00 | 14.00 | missing |' in md
    assert '| pointdistiller | +1.50 [' in md and '(n = 2, contains 0)' in md
    assert '| frozen | +0.50 [+0.50, +0.50] (n = 3, ' in md
    assert '**Partial record**: 1 run(s) not finished yet: pointdistiller seed 3.' in md
    assert 'Command: `python tools/benchmark_kd_gain.py x`' in md
    assert plot_kd_curves(rec, str(tmp_path / 'none.png')) is None  # no KD loss logged yet
    runs['pointdistiller']['1']['kd'] = dict(kd_loss_curve=[[10, 1.0], [20, 0.1]],
                                             kd_loss_first=1.0, kd_loss_last=0.1,
                                             det_loss_last=0.9)
    png = plot_kd_curves(rec, str(tmp_path / 'kd.png'))
    assert png and (tmp_path / 'kd.png').stat().st_size > 5000
    # the report: JSON, both plots (names stored in the record) and the md that embeds them
    write_report(rec, tmp_path / 'rep.json')
    assert json.loads((tmp_path / 'rep.json').read_text())['gains_plot'] == 'rep_gains.png'
    assert (tmp_path / 'rep_gains.png').stat().st_size > 5000
    assert (tmp_path / 'rep.png').stat().st_size > 5000
    assert '![paired gains](rep_gains.png)' in (tmp_path / 'rep.md').read_text()
    empty = dict(rec, ratios={'16x': dict(entry, arms={})})
    assert plot_paired_gains(empty, str(tmp_path / 'none.png')) is None


def _two_seed_reporting_record() -> dict:
    """A reporting record (arms student, default, release) with two paired seeds."""
    from mmdet3d_pointdistiller.experiments.kd_gain import summarise_ratio
    runs = dict(student={'1': _run_entry(10.0, 20.0, 30.0), '2': _run_entry(12.0, 21.0, 31.0)},
                default={'1': _run_entry(13.0, 21.0, 31.0), '2': _run_entry(14.0, 22.0, 33.0)},
                release={'1': _run_entry(10.0, 20.0, 30.0), '2': _run_entry(11.0, 21.0, 31.0)})
    entry = summarise_ratio(dict(methods=dict(student='s.py', default='d.py', release='r.py'),
                                 seeds=[1, 2], runs=runs, command='c'), teacher_map=21.0)
    return _kd_record(entry, dict(iters=6000, batch_size=4), teacher_map=21.0)


def test_reporting_record_headline_is_the_default_arm_even_before_any_run(tmp_path):
    """The reporting protocol's arms (student, default, release): the headline gain is the
    default arm's, release is compared with it, and the record written before the first run
    finishes (no runs at all) renders as partial and reads as "no benchmark yet"."""
    from mmdet3d_pointdistiller.experiments.kd_gain import summarise_ratio
    from mmdet3d_pointdistiller.experiments.kd_gain_report import render_markdown
    rec = _two_seed_reporting_record()
    entry = rec['ratios']['16x']
    methods = entry['methods']
    assert entry['headline'] == 'default'
    assert entry['paired_gain']['diffs'] == [3.0, 2.0]
    assert entry['arms']['release']['vs_default']['diffs'] == [-3.0, -3.0]
    assert 'vs_default' not in entry['arms']['default']
    md = render_markdown(rec)
    assert '| arm − default | paired 3D difference [95 % CI] |' in md
    assert '| release | -3.00 [-3.00, -3.00] (n = 2, ' in md
    # before the first run: every run missing, no gain, a partial record
    empty = summarise_ratio(dict(methods=methods, seeds=[1, 2, 3, 4, 5], runs={}, command='c'),
                            teacher_map=21.0)
    assert empty['paired_gain']['n'] == 0 and len(empty['missing']) == 15
    rec['ratios'] = {'16x': empty}
    assert '**Partial record**: 15 run(s) not finished yet' in render_markdown(rec)
    from mmdet3d_pointdistiller.quickstart.summary import benchmark_comparison
    (tmp_path / 'configs').mkdir()  # a checkout root
    write_json(tmp_path / qs.KD_GAIN_RECORD, rec)
    assert benchmark_comparison(dict(student_iters=6000), repo=tmp_path).startswith(
        'The paired-seed benchmark (benchmarks/kd_gain_sim.json) is still running: no method '
        'has two paired seeds yet (15 run(s) missing)')
    (tmp_path / 'none' / 'configs').mkdir(parents=True)  # a checkout without the record
    assert benchmark_comparison(dict(student_iters=6000), repo=tmp_path / 'none').startswith(
        'No paired-seed benchmark record is committed yet')
    rec['ratios'] = {'16x': entry}  # two seeds: the default arm's gain is quoted
    write_json(tmp_path / qs.KD_GAIN_RECORD, rec)
    text = benchmark_comparison(dict(student_iters=6000), repo=tmp_path)
    assert '- `default`: +2.50, 95 % CI [' in text and '(per seed +3.00, +2.00)' in text
    assert '- `release`: -0.50, 95 % CI [' in text


def test_benchmark_render_recomputes_statistics_from_the_runs(tmp_path):
    """``--render RECORD``: statistics recomputed from the per-run values, md rewritten, no
    training; stale summaries in the record are replaced."""
    bench = kd_gain_runs
    runs = dict(student={'1': _run_entry(10.0, 20.0, 30.0), '2': _run_entry(12.0, 21.0, 31.0)},
                pointdistiller={'1': _run_entry(11.0, 21.0, 31.0),
                                '2': _run_entry(14.0, 22.0, 33.0)})
    entry = dict(methods=dict(student='s.py', pointdistiller='pd.py'), seeds=[1, 2], runs=runs,
                 command='python tools/benchmark_kd_gain.py y', wall_time_s=5.0, machine='m',
                 threads=1, jobs=2, paired_gain=dict(mean=99.0))
    rec = _kd_record(entry, dict(iters=1500, batch_size=2), teacher_map=21.0)
    path = tmp_path / 'rec.json'
    path.write_text(json.dumps(rec))
    assert bench.render(str(path)) == 0
    out = json.loads(path.read_text())['ratios']['16x']
    assert out['paired_gain']['mean'] == 1.5 and out['paired_gain']['diffs'] == [1.0, 2.0]
    md = (tmp_path / 'rec.md').read_text()
    assert '| pointdistiller | +1.50 [' in md
    assert 'Command: `python tools/benchmark_kd_gain.py y`' in md
    with pytest.raises(SystemExit, match='not found'):
        bench.render(str(tmp_path / 'none.json'))
    (tmp_path / 'old.json').write_text(json.dumps(dict(runs={})))
    with pytest.raises(SystemExit, match='not a paired-seed'):
        bench.render(str(tmp_path / 'old.json'))


def test_learning_curves_table_and_plot(tmp_path):
    """Runs validated several times: the md gets a per-iteration table (mean over seeds,
    paired difference to the student in brackets) and the record a curves plot; runs with
    one validation give neither."""
    from mmdet3d_pointdistiller.experiments.kd_gain import summarise_ratio
    from mmdet3d_pointdistiller.experiments.kd_gain_report import (plot_learning_curves,
                                                                   render_markdown, write_report)

    def with_curve(final, values):
        r = _run_entry(final, final, final)
        r['curve'] = [dict(iter=i, map_3d=v, map_bev=v, car_3d_moderate=v,
                           car_bev_moderate=v) for i, v in zip((100, 200), values)]
        return r
    runs = dict(student={'1': with_curve(4.0, (2.0, 4.0)), '2': with_curve(6.0, (3.0, 6.0))},
                pointdistiller={'1': with_curve(5.0, (3.0, 5.0)),
                                '2': with_curve(8.0, (2.0, 8.0))})
    entry = summarise_ratio(dict(methods=dict(student='s.py', pointdistiller='pd.py'),
                                 seeds=[1, 2], runs=runs, command='c', wall_time_s=1.0),
                            teacher_map=20.0)
    rec = _kd_record(entry, dict(iters=200, batch_size=2, evals=2), teacher_map=20.0)
    md = render_markdown(rec)
    assert 'for 200 iterations of batch 2, validated 2 times.' in md
    assert '| method | iter 100 | iter 200 |' in md
    assert '| student | 2.50 | 5.00 |' in md
    assert '| pointdistiller | 2.50 (+0.00) | 6.50 (+1.50) |' in md
    write_report(rec, tmp_path / 'rep.json')
    assert json.loads((tmp_path / 'rep.json').read_text())['curves_plot'] == 'rep_curves.png'
    assert (tmp_path / 'rep_curves.png').stat().st_size > 5000
    assert '![learning curves](rep_curves.png)' in (tmp_path / 'rep.md').read_text()
    for r in (r for m in runs.values() for r in m.values()):
        r['curve'] = r['curve'][-1:]
    assert plot_learning_curves(rec, str(tmp_path / 'none.png')) is None
    assert 'iter 100' not in render_markdown(rec)


def test_per_class_paired_gains_and_table():
    """Per class and view: paired gains from the per-run AP tables, the student's mean and
    seed sd, one row per arm in the md."""
    from mmdet3d_pointdistiller.experiments.kd_gain import summarise_ratio
    from mmdet3d_pointdistiller.experiments.kd_gain_report import render_markdown

    def run(car, cyc):
        r = _run_entry(0.0, 0.0, car)
        r['ap']['3D']['Car']['moderate'] = car
        r['ap']['3D']['Cyclist']['moderate'] = cyc
        return r
    runs = dict(student={'1': run(4.0, 10.0), '2': run(6.0, 20.0), '3': run(5.0, 12.0)},
                pointdistiller={'1': run(3.0, 12.0), '2': run(5.0, 20.0), '3': run(4.0, 16.0)})
    entry = summarise_ratio(dict(methods=dict(student='s.py', pointdistiller='pd.py'),
                                 seeds=[1, 2, 3], runs=runs, command='c', wall_time_s=1.0),
                            teacher_map=20.0)
    g = entry['arms']['pointdistiller']['paired_gain_class']
    assert g['3D']['Car']['diffs'] == [-1.0, -1.0, -1.0]
    assert g['3D']['Car']['ci95'] == pytest.approx([-1.0, -1.0])
    assert g['3D']['Cyclist']['diffs'] == [2.0, 0.0, 4.0] and g['3D']['Cyclist']['mean'] == 2.0
    assert g['BEV']['Pedestrian']['mean'] == 0.0
    rec = _kd_record(entry, dict(iters=200, batch_size=2), teacher_map=20.0)
    md = render_markdown(rec)
    assert ('| | Car 3D | Pedestrian 3D | Cyclist 3D | Car BEV | Pedestrian BEV | '
            'Cyclist BEV |') in md
    assert '| student (mean ± sd) | 5.00 ± 1.00 | 0.00 ± 0.00 | 14.00 ± 5.29 |' in md
    half = 4.30265273 * 2.0 / math.sqrt(3)
    assert (f'| pointdistiller | -1.00 [-1.00, -1.00] | +0.00 [+0.00, +0.00] | '
            f'+2.00 [{2 - half:+.2f}, {2 + half:+.2f}] |') in md


def test_benchmark_rejects_evals_that_miss_the_last_iteration():
    bench = kd_gain_runs
    with pytest.raises(SystemExit, match='--iters 1000 is not a multiple of --evals 3'):
        bench.check_schedule([1], 2, 1, 1000, 3)
    with pytest.raises(SystemExit, match='--evals must be >= 1'):
        bench.check_schedule([1], 2, 1, 1500, 0)


def test_kd_diagnostics_read_the_kd_loss_and_the_logged_adapter_stats(tmp_path):
    from mmdet3d_pointdistiller.experiments.kd_gain import kd_diagnostics
    d = tmp_path / '20260101_000000' / 'vis_data'
    d.mkdir(parents=True)
    recs = [dict(iter=10, step=10, loss=2.7, loss_cls=0.5, loss_bbox=1.0, loss_pd_pfn=1.2,
                 kd_pfn_gamma_t=1.0, kd_pfn_neff=200.0),
            dict(iter=20, step=20, loss=0.751, loss_cls=0.25, loss_bbox=0.5, loss_pd_pfn=0.001,
                 kd_pfn_gamma_t=0.5, kd_pfn_neff=100.0)]
    (d / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in recs))
    diag = kd_diagnostics(str(tmp_path), tail=2)
    assert (diag['kd_loss_first'], diag['kd_loss_last'], diag['first_iter']) == (1.2, 0.001, 10)
    assert diag['det_loss_last'] == pytest.approx(0.75)
    assert diag['pfn_gamma_t'] == 0.75 and diag['pfn_neff'] == 150.0
    assert diag['kd_loss_curve'] == [[10, 1.2], [20, 0.001]]
    (d / 'scalars.json').write_text(json.dumps(dict(iter=1, loss=1.0, loss_cls=1.0)))
    assert kd_diagnostics(str(tmp_path)) is None


# ----------------------------------------------------------------------------- end to end
def _run(cmd, timeout):
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    return proc.stdout


@pytest.fixture(scope='module')
def tiny_quickstart(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('quickstart')
    args = ['--budget', 'tiny', '--work-dir', str(tmp / 'work'), '--data-root', str(tmp / 'data')]
    out = _run([sys.executable, 'tools/quickstart.py', *args], timeout=3000)
    return tmp, args, out


@pytest.mark.slow
def test_tiny_quickstart_end_to_end(tiny_quickstart):
    tmp, _, out = tiny_quickstart
    work = tmp / 'work'
    for stage in ('1/5', '2/5', '3/5', '4/5', '5/5'):
        assert f'[quickstart {stage}]' in out
    assert re.search(r'\[quickstart 3/5 models\] pointdistiller: iter \d+/4 loss [0-9.]+, '
                     r'loss_pd_pfn [0-9.]+', out)
    assert 'ETA' in out and 'elapsed' in out
    summary = json.loads((work / 'summary.json').read_text())
    res = summary['results']
    shipped = {n for n, rec in qs.ZOO_STUDENTS.items() if (REPO / rec).is_file()}
    assert set(res) == {'teacher'} | shipped
    for name, r in res.items():
        assert set(r['ap']) == {'BEV', '3D'} and set(r['ap']['3D']) == {'Car', 'Pedestrian',
                                                                        'Cyclist'}
        assert r['latency_ms'] > 0 and r['record_ap'] is not None  # all shipped with a record
    assert res['teacher']['params_m'] > 4.5
    md = (work / 'summary.md').read_text()
    assert '## BEV AP40 (paper Table 1 layout)' in md
    assert '| PointPillars teacher (sim model zoo) |' in md
    assert ('Not shipped yet' in md) == (len(shipped) < 2)
    assert '## Live demo (not a result)' in md and 'for 4 iterations' in md
    assert re.search(r'KD loss [0-9.]+ at iteration \d+ -> [0-9.]+ at 4', md)
    assert md in out  # the summary is printed
    pngs = summary['info']['pictures']
    assert len(pngs['teacher']) == len(pngs['pointdistiller']) == 1
    for p in [p for ps in pngs.values() for p in ps]:
        assert Path(p).is_file() and Path(p).stat().st_size > 20000
    log = (work / 'pointdistiller' / 'quickstart_train.log').read_text()
    assert 'loss_pd_pfn' in log and 'Iter(val)' not in log  # the demo is not validated


@pytest.mark.slow
def test_tiny_quickstart_rerun_reuses_every_stage(tiny_quickstart):
    tmp, args, _ = tiny_quickstart
    out = _run([sys.executable, 'tools/quickstart.py', *args], timeout=600)
    assert out.count('reused (already done)') == 4  # data, teacher, models, pictures
    assert 'pointdistiller (demo): mim train' not in out  # nothing trained again


@pytest.mark.slow
def test_kd_gain_benchmark_two_seeds_on_the_shipped_teacher(tiny_quickstart):
    """Two paired seeds of 4 iterations on the tiny quickstart dataset with the shipped zoo
    teacher (the benchmark's default ``--teacher-record``), the quickstart v2 setting."""
    tmp, _, _ = tiny_quickstart
    out_prefix = tmp / 'kd_gain'
    cmd = [sys.executable, 'tools/benchmark_kd_gain.py', '--ratio', '4x', '--seeds', '0', '1',
           '--iters', '4', '--num-train', '6', '--num-val', '3', '--data-root', str(tmp / 'data'),
           '--work-dir', str(tmp / 'bench'), '--out', str(out_prefix), '--evals', '2',
           '--title', 'Tiny KD gain']
    _run(cmd, timeout=3000)
    res = json.loads(out_prefix.with_suffix('.json').read_text())
    e = res['ratios']['4x']
    assert e['seeds'] == [0, 1] and e['missing'] == []
    assert len(e['student']) == len(e['pointdistiller']) == 2
    assert e['paired_gain']['n'] == 2 and len(e['paired_gain']['ci95']) == 2
    assert e['runs']['pointdistiller']['0']['kd']['kd_loss_last'] >= 0
    assert res['wall_time_s'] > 0 and res['command'].startswith('python tools/benchmark_kd_gain.py')
    assert res['teacher']['checkpoint'].startswith('checkpoints/sim/')
    assert (out_prefix.parent / (out_prefix.name + '_gains.png')).stat().st_size > 5000
    # --evals 2: every run validated at iterations 2 and 4, its learning curve recorded
    assert res['budget'] == dict(iters=4, batch_size=2, evals=2)
    curve = e['runs']['pointdistiller']['1']['curve']
    assert [c['iter'] for c in curve] == [2, 4]
    assert curve[-1]['map_3d'] == e['runs']['pointdistiller']['1']['map_3d']
    md = out_prefix.with_suffix('.md').read_text()
    assert md.startswith('# Tiny KD gain\n') and '| method | iter 2 | iter 4 |' in md
    assert res['curves_plot'] == out_prefix.name + '_curves.png'
    # a second call with the work dirs gone reuses the recorded runs (no training)
    shutil.rmtree(tmp / 'bench')
    out = _run(cmd, timeout=600)
    assert '4 run(s) taken from the record' in out and '0 to train' in out
    assert '0 run(s), 2 at a time | elapsed' in out and ', ETA 0s' in out  # nothing left


def test_train_job_eta_from_the_iteration_rate(tmp_path, monkeypatch):
    from types import SimpleNamespace
    clock = [0.0]
    monkeypatch.setattr(qj.time, 'perf_counter', lambda: clock[0])
    job = qj.TrainJob('student', qs.CONFIGS['student'], tmp_path / 's', 100, 2, 0, dict(os.environ))
    job.work_dir.mkdir()
    lines = []
    for t, line in ((50.0, 'mmengine - INFO - Iter(train) [10/100]  loss: 2.0 loss_cls: 1.0'),
                    (70.0, 'Iter(train) [20/100]  loss: 1.5'),
                    (80.0, 'Iter(val) [10/30]'), (95.0, 'Iter(val) [30/30]'),
                    (100.0, 'Iter(train) [30/100]  loss: 1.2')):
        lines.append((t, line + '\n'))

    def stdout():
        for t, line in lines:
            clock[0] = t
            yield line
    job.proc = SimpleNamespace(stdout=stdout())
    seen = []
    job._read(lambda j: seen.append((j.status, j.eta)))
    assert seen[0] == ('iter 10/100 loss 2.0', None)  # the first logged iteration: no rate yet
    assert seen[1] == ('iter 20/100 loss 1.5', pytest.approx(2.0 * 80 + 0.0))  # 2 s / iter
    assert seen[3][0] == 'validation 30/30'
    # mmengine logs validation iterations at the logger interval (no line at its start): the
    # validation is timed from the last training line, 95 - 70 = 25 s (checkpoint and
    # precise BN included), not from the clock's origin
    # (100 - 50) s over 20 iterations, 70 left, one more validation of 25 s
    assert seen[4] == ('iter 30/100 loss 1.2', pytest.approx(2.5 * 70 + 25.0))
    assert 'Iter(val) [30/30]' in (tmp_path / 's' / 'quickstart_train.log').read_text()
    assert job.run_seconds == pytest.approx(2.5 * 100 + 25.0 * 2)  # the whole run


def test_resumed_train_job_counts_only_the_validations_still_to_come(tmp_path, monkeypatch):
    """A run resumed at iteration 61 of 100 with 4 evenly spaced validations did 2 of them
    in its earlier process: its ETA adds the 2 left, not 4."""
    from types import SimpleNamespace
    clock = [0.0]
    monkeypatch.setattr(qj.time, 'perf_counter', lambda: clock[0])
    job = qj.TrainJob('student', qs.CONFIGS['student'], tmp_path / 's', 100, 4, 0, dict(os.environ))
    job.work_dir.mkdir()
    lines = [(0.0, 'mmengine - WARNING - Advance dataloader 60 steps to skip data that has '
                   'already been trained'),
             (0.0, 'Iter(train) [61/100]  loss: 1.0'), (10.0, 'Iter(train) [71/100]  loss: 1.0'),
             (11.0, 'Iter(val) [10/30]'), (16.0, 'Iter(val) [30/30]'),
             (21.0, 'Iter(train) [76/100]  loss: 1.0')]

    def stdout():
        for t, line in lines:
            clock[0] = t
            yield line + '\n'
    job.proc = SimpleNamespace(stdout=stdout())
    seen = []
    statuses = []
    job._read(lambda j: (seen.append(j.eta), statuses.append(j.status)))
    # minutes of replayed batches without a log line: the status says so
    assert statuses[0] == ('resuming at iteration 60: replaying its batches to restore the data '
                           'order')
    seen = seen[1:]
    assert seen[1] == pytest.approx(1.0 * 29)  # no validation timed yet
    # 21 s over 15 iterations, 24 left; validation 3 of 4 took 6 s (from the training line
    # at 10 s), validation 4 is left
    assert seen[-1] == pytest.approx(21 / 15 * 24 + 6.0)


@pytest.mark.parametrize('etas,queued,run_s,size,expected', [
    ([600.0, 1800.0], 3, 2400.0, 2, 5400.0),  # slot 1: 600 + 2400 + 2400; slot 2: 1800 + 2400
    ([600.0, 1800.0], 0, None, 2, 1800.0),  # nothing queued: the slower running run
    ([900.0], 2, 1000.0, 2, 1900.0),  # a free slot takes a queued run at once
    ([None, 100.0], 1, 50.0, 2, None),  # a running run without a rate yet: unknown
    ([100.0, 100.0], 1, None, 2, None),  # a queue without a run time: unknown
    ([], 0, None, 2, 0.0),
])
def test_pool_eta_schedules_the_queue_on_the_slots(etas, queued, run_s, size, expected):
    assert kd_gain_runs.pool_eta(etas, queued, run_s, size) == expected


def test_measure_latency_times_known_work():
    """A constructed model whose test_step sleeps a known time per frame: warm-up runs are
    not timed, every batch is timed ``repeats`` times, the median is the median."""
    import time as _time

    from torch import nn

    from mmdet3d_pointdistiller.quickstart.complexity import measure_latency

    class Sleeper(nn.Module):
        calls = []

        def test_step(self, data):
            self.calls.append(data['s'])
            _time.sleep(data['s'])

    model = Sleeper()
    lat = measure_latency(model, [dict(s=0.02), dict(s=0.06)], warmup=2, repeats=2)
    assert Sleeper.calls == [0.02, 0.02, 0.02, 0.02, 0.06, 0.06]  # 2 warm-up + 2 x 2 timed
    assert lat['frames'] == 4
    assert lat['min_ms'] >= 20.0 and lat['max_ms'] >= 60.0
    assert 40.0 <= lat['median_ms'] < 55.0  # median of ~(20, 20, 60, 60) = ~40
    assert model.training  # the train/eval mode is restored


def test_hashes_print_the_resolved_config_sha1_of_each_arm(capsys):
    """``benchmark_kd_gain.py --hashes``: the protocol table's hashes are those the harness
    matches runs by (resolved config, no options, data root and repository as placeholders)."""
    bench = kd_gain_runs
    release = 'configs/sim/pointdistiller-release_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py'  # noqa: E501
    assert bench.hashes([f'release={release}']) == 0
    out = capsys.readouterr().out.splitlines()
    env = qj.subprocess_env(REPO / 'data/sim_kitti', 1)
    assert out[-1] == f'| release | `{release}` | `{qj.config_hash(release, [], env)}` |'
    assert re.fullmatch(r'[0-9a-f]{40}', out[-1].split('`')[-2])
    with pytest.raises(SystemExit, match='config configs/nope.py does not exist'):
        bench.hashes(['x=configs/nope.py'])


def test_sim_data_root_is_scoped_to_config_parsing(tmp_path, monkeypatch):
    """The sim configs read $PD_SIM_KITTI when parsed; in-process code sets it only around
    the parsing (utils.paths.sim_data_root) and the variable is restored afterwards."""
    from mmdet3d_pointdistiller.utils.paths import sim_data_root
    monkeypatch.setenv('PD_SIM_KITTI', '/elsewhere/')
    with sim_data_root(tmp_path):
        cfg = Config.fromfile(str(STUDENT))
    assert cfg.val_evaluator.ann_file == f'{tmp_path}/kitti_infos_val.pkl'
    assert os.environ['PD_SIM_KITTI'] == '/elsewhere/'
    monkeypatch.delenv('PD_SIM_KITTI')
    with sim_data_root(None):
        assert Config.fromfile(str(STUDENT)).data_root == 'data/sim_kitti/'
    assert 'PD_SIM_KITTI' not in os.environ


# ----------------------------------------------------------------------------- v3: shipped models
def test_zoo_students_are_named_as_the_zoo_tool_ships_them():
    from mmdet3d_pointdistiller.experiments.sim_zoo_students import STUDENTS, checkpoint_name
    for name, key in (('zoo_student', 'student-16x'), ('zoo_pointdistiller', 'pointdistiller-16x')):
        assert qs.ZOO_STUDENTS[name] == \
            f"checkpoints/sim/{checkpoint_name(STUDENTS[key]['config'])}.json"
        assert qs.DISPLAY[name]


def _ap(value):
    return {v: {c: {d: value for d in ('easy', 'moderate', 'hard')}
                for c in ('Car', 'Pedestrian', 'Cyclist')} for v in ('BEV', '3D')}


def test_shipped_models_take_the_students_whose_record_and_file_exist(tmp_path):
    from mmdet3d_pointdistiller.quickstart.evaluation import shipped_models
    (tmp_path / 'checkpoints/sim').mkdir(parents=True)
    (tmp_path / 'configs').symlink_to(REPO / 'configs')  # a checkout: configs/ and the files
    shutil.copy(REPO / qs.ZOO_RECORD, tmp_path / qs.ZOO_RECORD)
    (tmp_path / qs.ZOO_TEACHER).write_bytes(b'')
    rec = dict(deploy_config=qs.CONFIGS['student'], ap=_ap(30.0), train_iters=6000,
               checkpoint='checkpoints/sim/student_fp16.pth')
    write_json(tmp_path / qs.ZOO_STUDENTS['zoo_student'], rec)
    write_json(tmp_path / qs.ZOO_STUDENTS['zoo_pointdistiller'],
               dict(rec, checkpoint='checkpoints/sim/missing_fp16.pth'))
    (tmp_path / rec['checkpoint']).write_bytes(b'')
    models = shipped_models(tmp_path / qs.ZOO_TEACHER, tmp_path)
    assert list(models) == ['teacher', 'zoo_student']  # the distilled file is not there
    assert models['teacher']['record']['map_3d'] > 40
    assert models['zoo_student'] == dict(config=qs.CONFIGS['student'],
                                         ckpt=tmp_path / rec['checkpoint'], record=rec)
    # a teacher trained here has no record
    assert shipped_models(tmp_path / 'work/teacher/iter_4.pth', tmp_path)['teacher'][
        'record'] is None


def test_summary_puts_the_shipped_models_beside_their_records_and_the_benchmark(tmp_path):
    from mmdet3d_pointdistiller.quickstart.summary import write_summary
    demo = tmp_path / 'pointdistiller'
    (demo / '20261207_000000/vis_data').mkdir(parents=True)
    (demo / '20261207_000000/vis_data/scalars.json').write_text('\n'.join(json.dumps(r) for r in (
        dict(iter=10, step=10, loss=5.0, loss_cls=2.0, loss_bbox=1.5, loss_dir=0.1,
             loss_pd_pfn=1.4),
        dict(iter=300, step=300, loss=3.0, loss_cls=1.2, loss_bbox=1.0, loss_dir=0.05,
             loss_pd_pfn=0.35))))
    results = {n: dict(name=qs.DISPLAY[n], kd=n == 'zoo_pointdistiller', params_m=p, gflops=g,
                       latency_ms=ms, ap=_ap(v), record_ap=_ap(v + 0.01))
               for n, p, g, ms, v in (('teacher', 4.83, 2.7, 142, 49.1),
                                      ('zoo_student', 0.31, 0.2, 26, 36.0),
                                      ('zoo_pointdistiller', 0.31, 0.2, 26, 40.0))}
    info = dict(budget='full', num_train=1500, num_val=300, data_seed=0, teacher_iters=3000,
                train_teacher=False, threads=1, seed=0, batch_size=2,
                configs=qs.CONFIGS, demo=dict(work_dir=str(demo), iters=300, seconds=200.0),
                stage_seconds={s: 1.0 for s in qs.STAGES}, skipped=['teacher'],
                wall_seconds=480.0, machine='2 CPU cores', loadavg='2.0',
                command='python tools/quickstart.py')
    repo = tmp_path / 'repo'  # a checkout whose committed record has two paired seeds
    (repo / 'configs').mkdir(parents=True)
    write_json(repo / qs.KD_GAIN_RECORD, _two_seed_reporting_record())
    md = write_summary(tmp_path, results, info, repo=repo)
    assert '| PointPillars 16× + PointDistiller (sim model zoo) | 0.2 | 0.31 | 26 | ✓ |' in md
    assert 'Not shipped yet' not in md and 'exported from the distiller' in md
    assert ('PointPillars 16× (student alone, sim model zoo) 36.00 (record 36.01)') in md
    assert "This run's val split is not the zoo's" not in md
    assert 'KD loss 1.4000 at iteration 10 -> 0.3500 at 300; detection loss 3.600 -> 2.250' in md
    assert 'for 300 iterations (batch 2, training seed 0, 3m20s)' in md
    assert ('The committed benchmark (benchmarks/kd_gain_sim.json, 16x, 6000 iterations of '
            'batch 4)') in md and '- `default`: +2.50, 95 % CI [' in md
    assert '| models | 1 | no |' in md and '| teacher | 1 | yes |' in md
    assert json.loads((tmp_path / 'summary.json').read_text())['moderate_map'][
        'zoo_pointdistiller']['3D'] == pytest.approx(40.0)
