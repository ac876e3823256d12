"""Shipping converged students from the paired-seed record (``experiments/sim_zoo_students.py``):
which run and file a zoo entry names, the leaf configs against the runs' options, the student
part of a distillation checkpoint, and the errors that say what is missing."""
import json
import math
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet3d.registry import MODELS

import mmdet3d_pointdistiller  # noqa: F401  registers modules, activates shims
from mmdet3d_pointdistiller.experiments import sim_zoo_readme
from mmdet3d_pointdistiller.experiments.sim_zoo_readme import (ROOT_BEGIN, ROOT_END, readme_text,
                                                               root_readme_block)
from mmdet3d_pointdistiller.utils.readme_blocks import block_of
from mmdet3d_pointdistiller.experiments.sim_zoo_students import (STUDENTS, ShipError,
                                                                 checkpoint_name,
                                                                 config_differences,
                                                                 source_run, student_weights)
from mmdet3d_pointdistiller.models.distillers.export import ExportError

REPO = Path(__file__).resolve().parents[1]
STUDENT_16X = 'configs/sim/pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py'
TUNING = json.loads((REPO / 'benchmarks/kd_design_sim_tuning.json').read_text())
# the budget options of a 6000-iteration run of the design tuning (seed 101)
OPTIONS = TUNING['ratios']['16x']['runs']['student']['101']['options']


def test_zoo_readme_is_rendered_from_the_records():
    assert readme_text() == (REPO / 'configs/sim/README.md').read_text()


def test_the_readmes_zoo_table_is_rendered_from_the_records():
    """Re-render with `python tools/train_sim_zoo.py teacher-ft --readme-only`."""
    readme = (REPO / 'README.md').read_text()
    assert block_of(readme, ROOT_BEGIN, ROOT_END) == root_readme_block()


def test_the_readmes_zoo_table_orders_its_rows_and_names_the_students_not_shipped(monkeypatch):
    shipped = sim_zoo_readme.student_records()  # 16x before 4x, student alone first
    keys = [(r['source']['ratio'], r['source']['method']) for r in shipped]
    assert keys == sorted(keys, key=lambda k: (['16x', '4x'].index(k[0]), k[1] != 'student'))
    assert {k[0] for k in keys} >= {'16x'}
    one_each = [next(r for r in shipped if r['source']['method'] == m)
                for m in ('student', 'default')]
    fake = []
    for ratio in ('16x', '4x'):
        for rec in one_each:
            r = json.loads(json.dumps(rec))
            r['source']['ratio'] = ratio
            r['map_3d'] = 10.0 + len(fake)
            fake.append(r)
    monkeypatch.setattr(sim_zoo_readme, 'student_records', lambda: fake)
    block = root_readme_block()
    rows = [ln for ln in block.splitlines() if ln.startswith('| PointPillars')]
    assert [ln.split(' | ')[0] for ln in rows] == [
        '| PointPillars teacher, stage 2 (the distillation teacher)',
        '| PointPillars teacher, stage 1',
        '| PointPillars 16× student alone (reporting seed 1)',
        '| PointPillars 16× + PointDistiller default (design (c)) (reporting seed 1)',
        '| PointPillars 4× student alone (reporting seed 1)',
        '| PointPillars 4× + PointDistiller default (design (c)) (reporting seed 1)']
    by_row = {(r['source']['ratio'], r['source']['method']): f" | {r['map_3d']:.2f} | "
              for r in fake}  # each row's 3D mAP is its record's
    order = [('16x', 'student'), ('16x', 'default'), ('4x', 'student'), ('4x', 'default')]
    assert [by_row[k] in row for k, row in zip(order, rows[2:])] == [True] * 4
    gflops = f"{one_each[0]['gflops']:.2f}"  # every fake record is one model's, renamed
    assert f'The 16× students ({gflops} GFLOPs) and 4× students ({gflops} GFLOPs)' in ' '.join(
        block.split())
    assert 'join when' not in block  # every ratio shipped: nothing announced
    monkeypatch.setattr(sim_zoo_readme, 'student_records',
                        lambda: [r for r in fake if r['source']['ratio'] == '16x'])
    assert 'The converged 4× students join when their reporting runs are done.' in ' '.join(
        root_readme_block().split())


def test_checkpoint_name_follows_the_teacher_convention():
    assert checkpoint_name(STUDENTS['student-16x']['config']) == \
        'pointpillars-16x_hv_secfpn_1xb4-6000it_sim-kitti-3d-3class'
    teacher = 'configs/sim/pointpillars_hv_secfpn_1xb4-3000it-cpu_sim-kitti-3d-3class.py'
    assert checkpoint_name(teacher) == 'pointpillars_hv_secfpn_1xb4-3000it_sim-kitti-3d-3class'


RELEASE_LEAF = ('configs/sim/pointdistiller-release_pointpillars-16x_hv_secfpn_1xb4-6000it-cpu_'
                'sim-kitti-3d-3class.py')
# leaf config -> the arm config the benchmark runs with --cfg-options
LEAF_ARMS = {
    STUDENTS['student-16x']['config']: STUDENT_16X,
    STUDENTS['student-4x']['config']: STUDENT_16X.replace('16x', '4x'),
    STUDENTS['pointdistiller-16x']['config']: STUDENT_16X.replace('pointpillars',
                                                                  'pointdistiller_pointpillars'),
    STUDENTS['pointdistiller-4x']['config']: STUDENT_16X.replace(
        'pointpillars-16x', 'pointdistiller_pointpillars-4x'),
    RELEASE_LEAF: STUDENT_16X.replace('pointpillars', 'pointdistiller-release_pointpillars'),
}


@pytest.mark.parametrize('leaf', sorted(LEAF_ARMS))
def test_leaf_configs_resolve_to_the_benchmark_runs(leaf):
    """What ``mim train`` users run is what the benchmark trained: the arm's config with the
    runs' ``--cfg-options`` (seed aside), for the zoo students and the release arm."""
    arm = LEAF_ARMS[leaf]
    ratio = '4x' if '-4x_' in leaf else '16x'
    assert (REPO / leaf).is_file() and (REPO / arm).is_file()
    assert OPTIONS[0] == 'train_cfg.max_iters=6000' and 'randomness.seed=101' in OPTIONS
    assert config_differences(leaf, arm, OPTIONS) == []
    # the leaf adds the real-points pillar layer, which changes the speed, not the function
    hooks = [h['type'] for h in Config.fromfile(str(REPO / leaf)).custom_hooks]
    assert hooks == ['PreciseBNHook', 'DistillStatsHook', 'RealPointsPFNHook']
    # and the check can fail: another budget, another width
    assert config_differences(leaf, arm, ['train_cfg.max_iters=3000'] + OPTIONS[1:]) == \
        ['train_cfg.max_iters']
    diff = config_differences(leaf, arm, [o for o in OPTIONS if 'batch_size' not in o])
    assert diff == ['train_dataloader.batch_size']
    other = STUDENT_16X.replace('16x', '16x' if ratio == '4x' else '4x')  # the other width
    assert any(k.endswith('backbone.in_channels') for k in config_differences(leaf, other, OPTIONS))


def _record(tmp_path: Path, with_run: bool = True, work: str = None) -> Path:
    work = work or str(tmp_path / 'work')
    runs = {'student': {'1': dict(map_3d=1.0, map_bev=2.0, ap={}, options=OPTIONS)}}
    if with_run:
        runs['default'] = {'1': dict(map_3d=3.0, map_bev=4.0, ap={}, options=OPTIONS)}
    rec = dict(budget=dict(iters=6000, batch_size=4), ratios={'16x': dict(
        methods=dict(student=STUDENT_16X, default='configs/sim/x.py'), runs=runs,
        command=f'python tools/benchmark_kd_gain.py --ratio 16x --work-dir {work}',
        threads=1)})
    path = tmp_path / 'record.json'
    path.write_text(json.dumps(rec))
    return path


def test_source_run_finds_the_seed_1_run_and_its_checkpoint(tmp_path):
    record = _record(tmp_path)
    ckpt = tmp_path / 'work/16x/default/seed_1/iter_6000.pth'
    with pytest.raises(ShipError, match=r'16x/default/seed_1/iter_6000.pth does not exist'):
        source_run('pointdistiller-16x', str(record))
    # the record alone (metafile text on a machine without the work dir)
    got = source_run('pointdistiller-16x', str(record), require_checkpoint=False)
    assert got['checkpoint'] == ckpt and got['run']['map_3d'] == 3.0
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b'')
    got = source_run('pointdistiller-16x', str(record))
    assert got['checkpoint'] == ckpt and got['run']['map_3d'] == 3.0
    assert got['arm_config'] == 'configs/sim/x.py' and got['deploy_config'] == STUDENT_16X
    assert (got['iters'], got['batch_size'], got['seed'], got['threads']) == (6000, 4, 1, 1)


def test_source_run_errors_name_what_is_missing(tmp_path):
    with pytest.raises(ShipError, match="unknown zoo student 'student-8x'"):
        source_run('student-8x', str(_record(tmp_path)))
    with pytest.raises(ShipError, match='run the reporting benchmark first'):
        source_run('student-16x', str(tmp_path / 'none.json'))
    with pytest.raises(ShipError, match=r"has no 4x runs \(ratios: \['16x'\]\)"):
        source_run('student-4x', str(_record(tmp_path)))
    with pytest.raises(ShipError, match=r"no 16x run of method 'default' with seed 1 "
                                        r"\(methods: \['student'\]\)"):
        source_run('pointdistiller-16x', str(_record(tmp_path, with_run=False)))


@pytest.fixture(scope='module')
def student_state():
    init_default_scope('mmdet3d')
    torch.manual_seed(0)
    return MODELS.build(Config.fromfile(str(REPO / STUDENT_16X)).model).state_dict()


def test_student_weights_take_the_student_part_of_a_distillation_checkpoint(
        tmp_path, student_state):
    ckpt = dict(state_dict={**{f'student.{k}': v for k, v in student_state.items()},
                            'teacher.voxel_encoder.w': torch.ones(3),
                            'distill_losses.loss_pd_pfn.adapter.w': torch.ones(2)},
                meta=dict(iter=6000, seed=101), optimizer={'state': {}})
    src, out = tmp_path / 'kd.pth', tmp_path / 'plain.pth'
    torch.save(ckpt, src)
    assert student_weights(src, STUDENT_16X, out) == dict(exported=True,
                                                          tensors=len(student_state))
    plain = torch.load(out, weights_only=False)
    assert set(plain['state_dict']) == set(student_state)
    key = 'backbone.blocks.0.0.weight'
    assert torch.equal(plain['state_dict'][key], student_state[key])
    assert 'optimizer' not in plain and plain['meta']['iter'] == 6000


def test_student_weights_copy_a_plain_checkpoint_and_refuse_other_widths(
        tmp_path, student_state):
    src, out = tmp_path / 'student.pth', tmp_path / 'plain.pth'
    torch.save(dict(state_dict=student_state, meta=dict(iter=6000, seed=1),
                    optimizer={'state': {}}), src)
    assert student_weights(src, STUDENT_16X, out)['exported'] is False
    plain = torch.load(out, weights_only=False)
    assert set(plain['state_dict']) == set(student_state) and 'optimizer' not in plain
    with pytest.raises(ExportError, match='do not load strictly into .*pointpillars-4x'):
        student_weights(src, STUDENT_16X.replace('16x', '4x'), tmp_path / 'x.pth')


def test_training_wall_time_sums_the_processes_of_a_resumed_run(tmp_path):
    """A run interrupted and resumed has one mmengine log per process: the wall time is the
    sum of their spans, not the span from the first line to the last (which would count the
    time between the processes) nor the last process alone."""
    from mmdet3d_pointdistiller.utils.scalars import logged_wall_time
    for stamp, lines in (('20261207_061641', ['2026/12/07 06:16:41 - mmengine - INFO - start',
                                              'no timestamp on this line',
                                              '2026/12/07 06:50:11 - mmengine - INFO - x']),
                         ('20261207_072856', ['2026/12/07 07:28:56 - mmengine - INFO - resume',
                                              '2026/12/07 07:42:39 - mmengine - INFO - end'])):
        (tmp_path / stamp).mkdir()
        (tmp_path / stamp / f'{stamp}.log').write_text('\n'.join(lines) + '\n')
    (tmp_path / 'test_fp16' / 'x').mkdir(parents=True)  # a test run's log is not training
    (tmp_path / 'test_fp16' / 'x' / 'x.log').write_text('2026/12/08 00:00:00 - test\n')
    assert logged_wall_time(tmp_path) == (33 * 60 + 30) + (13 * 60 + 43)
    assert math.isnan(logged_wall_time(tmp_path / 'empty'))


def test_metafile_entry_is_written_from_the_zoo_record(tmp_path):
    """Shipping writes the student's metafile entry (weights, sha256, results): rewriting the
    committed entries from the committed records changes nothing, a second write neither, and
    a config without an entry is named in the error."""
    import yaml

    from mmdet3d_pointdistiller.experiments.sim_zoo_metafile import (METAFILE,
                                                                     write_metafile_entry)
    from mmdet3d_pointdistiller.experiments.sim_zoo_students import shipped_what
    (tmp_path / 'configs' / 'sim').mkdir(parents=True)
    committed = (REPO / METAFILE).read_text()
    (tmp_path / METAFILE).write_text(committed)
    shipped = {key: json.loads((REPO / f"checkpoints/sim/{checkpoint_name(e['config'])}.json")
                               .read_text())
               for key, e in STUDENTS.items()
               if (REPO / f"checkpoints/sim/{checkpoint_name(e['config'])}.json").is_file()}
    assert {'student-16x', 'pointdistiller-16x'} <= set(shipped)
    for _ in range(2):
        for key, rec in shipped.items():
            what = shipped_what(source_run(key, require_checkpoint=False))
            write_metafile_entry(rec, what, tmp_path)
        assert (tmp_path / METAFILE).read_text() == committed
    models = {m['Config']: m for m in yaml.safe_load(committed)['Models']}
    rec = shipped['pointdistiller-16x']
    entry = models[rec['config']]
    assert entry['Weights'] == rec['checkpoint']
    assert entry['Metadata']['Weights SHA256'] == rec['sha256']
    assert entry['Results'][0]['Metrics']['mAP (AP40, moderate)'] == round(rec['map_3d'], 2)
    with pytest.raises(KeyError, match='has no entry with .Config: configs/sim/nope.py'):
        write_metafile_entry(dict(rec, config='configs/sim/nope.py'), 'x', tmp_path)
