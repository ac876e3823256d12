"""The model-zoo metafiles (`configs/**/metafile.yml`, `model-index.yml`) against the repository.

Pure file checks (no model builds): every leaf config of a folder has exactly
one entry, paths exist, the sim teacher's numbers, weights and sha256 equal its committed record,
and every paper-reported number equals ``mmdet3d_pointdistiller.paper_results``.
"""
import hashlib
import json
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / 'configs'
# the sim model zoo's records (tools/train_sim_zoo.py): {config: record path}, one per stage
SIM_RECORDS = {json.loads(p.read_text())['config']: p.relative_to(REPO).as_posix()
               for p in sorted((REPO / 'checkpoints' / 'sim').glob('*.json'))}
TASKS = {'3D Object Detection': ('d3', '3D', 'map_3d'),
         'BEV Object Detection': ('bev', 'BEV', 'map_bev')}
CLASSES = ('Car', 'Pedestrian', 'Cyclist')
MAP_KEY = 'mAP (AP40, moderate)'


def _class_key(cls):
    return f'{cls} AP40 (moderate)'


def _leaf_folders():
    """Folders holding at least one leaf config (any ``.py`` outside ``_base_``)."""
    return sorted({p.parent for p in CONFIGS.rglob('*.py') if '_base_' not in p.parts})


FOLDERS = _leaf_folders()


def _rel(path):
    return path.relative_to(REPO).as_posix()


def _load(folder):
    return yaml.safe_load((folder / 'metafile.yml').read_text())


def _all_models():
    return [(m, _rel(f)) for f in FOLDERS for m in _load(f)['Models']]


def _paper_tables():
    from mmdet3d_pointdistiller.paper_results import TABLES
    return TABLES


def test_folders_are_the_known_ones():
    assert [_rel(f) for f in FOLDERS] == sorted([
        'configs/centerpoint', 'configs/kd_methods', 'configs/point_rcnn', 'configs/pointdistiller',
        'configs/pointpillars', 'configs/quickstart', 'configs/second', 'configs/sim',
        'configs/sim/kd_methods'])


@pytest.mark.parametrize('folder', FOLDERS, ids=_rel)
def test_metafile_lists_exactly_the_leaf_configs(folder):
    meta = _load(folder)
    assert set(meta) == {'Collections', 'Models'}
    collections = {c['Name'] for c in meta['Collections']}
    assert len(collections) == len(meta['Collections'])
    assert all((REPO / c['README']).is_file() for c in meta['Collections'])
    leafs = sorted(_rel(p) for p in folder.glob('*.py'))
    configs = [m['Config'] for m in meta['Models']]
    assert sorted(configs) == leafs, 'missing or stale metafile entries'
    for m in meta['Models']:
        assert m['Name'] == Path(m['Config']).stem
        assert (REPO / m['Config']).is_file()
        assert m['In Collection'] in collections
        assert m['Metadata']['Training Data']
        assert m['Metadata']['Architecture']


def test_teacher_paths_exist():
    """A distillation entry names its teacher as an ``mmdet3d::`` config (resolved by mim) or a
    repository config, optionally `` + `` a shipped checkpoint; repository paths must exist."""
    teachers = [m['Metadata']['Teacher'] for m, _ in _all_models() if 'Teacher' in m['Metadata']]
    assert len(teachers) > 50
    for teacher in teachers:
        config, _, ckpt = teacher.partition(' + ')
        config = config.split(' (')[0]
        if not config.startswith('mmdet3d::'):
            assert (REPO / config).is_file(), teacher
        if ckpt:
            assert (REPO / ckpt).is_file(), teacher


def test_names_are_unique_across_the_zoo():
    names = [m['Name'] for m, _ in _all_models()]
    assert len(names) == len(set(names))
    collections = [c['Name'] for f in FOLDERS for c in _load(f)['Collections']]
    assert len(collections) == len(set(collections))


def test_model_index_lists_every_metafile():
    index = yaml.safe_load((REPO / 'model-index.yml').read_text())
    assert sorted(index['Import']) == sorted(_rel(f / 'metafile.yml') for f in FOLDERS)
    assert all((REPO / p).is_file() for p in index['Import'])


def test_weights_exist_and_match_their_sha256():
    with_weights = [m for m, _ in _all_models() if 'Weights' in m]
    assert sorted(m['Config'] for m in with_weights) == sorted(SIM_RECORDS)
    assert len(SIM_RECORDS) >= 2  # the zoo teacher's two stages
    for m in with_weights:
        path = REPO / m['Weights']
        assert path.is_file(), m['Weights']
        assert hashlib.sha256(path.read_bytes()).hexdigest() == m['Metadata']['Weights SHA256']


@pytest.mark.parametrize('config', sorted(SIM_RECORDS))
def test_sim_teacher_results_equal_its_record(config):
    rec = json.loads((REPO / SIM_RECORDS[config]).read_text())
    (m, ) = [m for m, _ in _all_models() if m['Config'] == config]
    assert m['Weights'] == rec['checkpoint']
    assert m['Metadata']['Weights SHA256'] == rec['sha256']
    assert SIM_RECORDS[config] in m['Metadata']['Results Source']
    assert sorted(r['Task'] for r in m['Results']) == sorted(TASKS)
    for r in m['Results']:
        _, key, map_key = TASKS[r['Task']]
        expected = {MAP_KEY: rec[map_key]}
        expected.update({_class_key(c): rec['ap'][key][c]['moderate'] for c in CLASSES})
        assert set(r['Metrics']) == set(expected)
        for name, value in r['Metrics'].items():
            assert value == round(expected[name], 2), (r['Task'], name)


def test_paper_reported_numbers_equal_paper_results():
    tables = _paper_tables()
    checked = 0
    for m, _ in _all_models():
        source = m['Metadata'].get('Results Source', '')
        if m['Config'] in SIM_RECORDS:
            continue
        if 'Results' not in m:
            assert not source.startswith('Paper-reported'), m['Name']
            continue
        assert source.startswith('Paper-reported'), f'{m["Name"]}: numbers without a source'
        assert 'Weights' not in m, f'{m["Name"]}: paper numbers come with no weights'
        rows = [(num, row) for num, t in tables.items() for row in t['rows']
                if row['config'] == m['Config']]
        assert rows, f'{m["Name"]}: the paper has no row for this config'
        for num in {num for num, _ in rows}:
            assert f'Table {num}' in source, (m['Name'], num)
        listed = set()
        for r in m['Results']:
            assert r['Dataset'] == 'KITTI'
            task, _, _ = TASKS[r['Task']]
            listed.add(task)
            for num, row in rows:
                if task not in row['values']:
                    continue
                vals = row['values'][task]
                expected = {MAP_KEY: vals['mAP']}
                expected.update({_class_key(c): vals[(c, 'moderate')] for c in CLASSES})
                assert r['Metrics'] == expected, (m['Name'], num, r['Task'])
                checked += 1
        # every task the paper reports for this config is listed
        assert listed == {t for _, row in rows for t in row['values']}, m['Name']
    assert checked > 0


def test_every_paper_row_of_a_leaf_config_is_listed():
    """No paper number is left out where the paper has a row for the exact config."""
    listed = {m['Config'] for m, _ in _all_models() if 'Results' in m}
    for t in _paper_tables().values():
        for row in t['rows']:
            if row['config'].startswith('configs/'):
                assert row['config'] in listed, row['config']


def test_sim_students_carry_no_numbers():
    """Sim students and distillers are measured by the paired benchmark, not the metafile."""
    for m, folder in _all_models():
        if folder.startswith('configs/sim') and m['Config'] not in SIM_RECORDS:
            assert 'Results' not in m and 'Weights' not in m, m['Name']
