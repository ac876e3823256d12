"""Pre-registration that git can verify: protocol file + commit, runs' start times, and the
confirmatory label (experiments/protocol.py), and the start time a TrainJob records."""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from mmdet3d_pointdistiller.quickstart import jobs as qj
from mmdet3d_pointdistiller.quickstart import settings as qs
from mmdet3d_pointdistiller.experiments.kd_gain_runs import subprocess_env
from mmdet3d_pointdistiller.experiments.protocol import (confirmatory_status, flat_runs,
                                                         protocol_info)

REPO = Path(__file__).resolve().parents[1]


def git(repo, *args, date=None):
    env = dict(os.environ, GIT_AUTHOR_NAME='t', GIT_AUTHOR_EMAIL='t@t', GIT_COMMITTER_NAME='t',
               GIT_COMMITTER_EMAIL='t@t')
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    return subprocess.run(['git', *args], cwd=repo, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, 'init', '-q')
    (tmp_path / 'protocols').mkdir()
    (tmp_path / 'README.md').write_text('a repository with history\n')
    git(tmp_path, 'add', '.')
    git(tmp_path, 'commit', '-qm', 'start', date='2026-12-06T15:00:00+00:00')
    return tmp_path


def test_protocol_info_needs_a_committed_unmodified_file(repo):
    path = repo / 'protocols' / 'rec.md'
    with pytest.raises(ValueError, match='protocol protocols/rec.md not found'):
        protocol_info('protocols/rec.md', repo)
    path.write_text('question ...\n')
    with pytest.raises(ValueError, match='is not committed: commit it before the runs start'):
        protocol_info('protocols/rec.md', repo)
    git(repo, 'add', '.')
    git(repo, 'commit', '-qm', 'protocol', date='2026-12-06T16:00:00+00:00')
    info = protocol_info('protocols/rec.md', repo)
    assert info['file'] == 'protocols/rec.md'
    assert info['commit'] == git(repo, 'rev-parse', 'HEAD') and len(info['commit']) == 40
    assert info['committed_at'] == '2026-12-06T16:00:00+00:00'
    assert (info['registered_commit'], info['registered_at']) == (info['commit'],
                                                                  info['committed_at'])
    first = info['commit']
    path.write_text('question ...\n\n## Amendment 1\n')
    git(repo, 'commit', '-qam', 'amendment', date='2026-12-06T18:00:00+00:00')
    info = protocol_info('protocols/rec.md', repo)
    assert info['committed_at'] == '2026-12-06T18:00:00+00:00' and info['commit'] != first
    assert (info['registered_commit'], info['registered_at']) == (
        first, '2026-12-06T16:00:00+00:00')  # the registration stays the first commit
    path.write_text('question ... edited after the commit\n')
    with pytest.raises(ValueError, match='has uncommitted changes'):
        protocol_info(str(path), repo)  # absolute paths inside the repository work too


def run(method, seed, started_at):
    return dict(method=method, ratio='16x', seed=seed, started_at=started_at)


def test_confirmatory_only_if_every_run_started_after_the_commit():
    proto = dict(file='p.md', commit='a' * 40, committed_at='2026-12-06T16:00:00+00:00')
    after = [run('student', 1, '2026-12-06T16:00:01+00:00'),
             run('pd', 1, '2026-12-06T17:30:00+01:00')]  # 16:30 UTC
    assert confirmatory_status(proto, after) == dict(
        confirmatory=True, why='all 2 runs started after 2026-12-06T16:00:00+00:00')
    early = after + [run('pd', 2, '2026-12-06T16:00:00+00:00'),
                     run('student', 2, '2026-12-06T16:30:00+02:00')]  # 14:30 UTC
    status = confirmatory_status(proto, early)
    assert not status['confirmatory']
    assert status['why'] == ('2 run(s) started before the protocol commit: 16x pd seed 2, '
                             '16x student seed 2')
    status = confirmatory_status(proto, after + [run('pd', 3, None)])
    assert status == dict(confirmatory=False, why='1 run(s) have no start time: 16x pd seed 3')
    assert confirmatory_status(None, after) == dict(confirmatory=False, why='no protocol')
    assert not confirmatory_status(proto, [])['confirmatory']


def test_runs_after_the_registration_but_before_an_amendment_are_labelled_as_such():
    proto = dict(file='p.md', commit='b' * 40, committed_at='2026-12-06T18:00:00+00:00',
                 registered_commit='a' * 40, registered_at='2026-12-06T16:00:00+00:00')
    runs = [run('student', 1, '2026-12-06T16:30:00+00:00'),
            run('pd', 1, '2026-12-06T18:30:00+00:00')]
    assert confirmatory_status(proto, runs) == dict(
        confirmatory=False, amended_during_runs=True,
        why='pre-registered at 2026-12-06T16:00:00+00:00 (commit aaaaaaaaaa) and every run '
            'started after that, but the protocol was amended at 2026-12-06T18:00:00+00:00 '
            '(commit bbbbbbbbbb) after 1 of the 2 runs had started: 16x student seed 1')
    # a run before the registration: plainly not confirmatory
    status = confirmatory_status(proto, runs + [run('pd', 2, '2026-12-06T15:00:00+00:00')])
    assert status == dict(confirmatory=False, why=(
        '1 run(s) started before the protocol commit (2026-12-06T16:00:00+00:00): 16x pd seed '
        '2; 1 more started before its last amendment (2026-12-06T18:00:00+00:00): 16x student '
        'seed 1'))
    # every run after the amendment: confirmatory, as before
    assert confirmatory_status(proto, runs[1:])['confirmatory'] is True


def test_flat_runs_lists_every_finished_run_with_its_config():
    rec = dict(ratios={'16x': dict(
        methods=dict(student='configs/s.py', pd='configs/p.py'),
        runs=dict(student={'1': dict(map_3d=30.0, map_bev=40.0, started_at='t1',
                                     config_hash='h1')},
                  pd={'1': dict(map_3d=31.0, map_bev=41.0, started_at='t2',
                                config_hash='h2')}))})
    assert flat_runs(rec) == [
        dict(method='student', ratio='16x', seed=1, config='configs/s.py', started_at='t1',
             config_hash='h1', map_3d=30.0, map_bev=40.0),
        dict(method='pd', ratio='16x', seed=1, config='configs/p.py', started_at='t2',
             config_hash='h2', map_3d=31.0, map_bev=41.0)]


def test_train_job_keeps_the_start_of_its_first_part(tmp_path):
    """A resumed run keeps the started_at of its first process; a new one has none yet."""
    env = dict(os.environ)
    job = qj.TrainJob('s', qs.CONFIGS['student'], tmp_path / 's', 100, 2, 0, env)
    assert job.mode == 'new' and job.started_at is None
    (tmp_path / 's').mkdir()
    (tmp_path / 's' / 'last_checkpoint').write_text('iter_50.pth')
    (tmp_path / 's' / qj.MARKER).write_text(json.dumps(dict(
        config=job.config, cfg_options=job.options, config_hash=job.config_hash,
        finished=False, started_at='2026-12-06T16:00:00+00:00')))
    again = qj.TrainJob('s', qs.CONFIGS['student'], tmp_path / 's', 100, 2, 0, env)
    assert again.mode == 'resume' and again.started_at == '2026-12-06T16:00:00+00:00'
    assert qj.utc_now().endswith('+00:00') and len(qj.utc_now()) == 25


def _protocol_hash_rows():
    """``(protocol, config, sha1)`` of every table row of a committed protocol that names a
    config and its resolved-config SHA-1; a config listed twice keeps its last (amended) row."""
    row = re.compile(r'`(configs/[^`]+\.py)`[^|\n]*\|\s*`([0-9a-f]{40})`')
    out = {}
    for path in sorted((REPO / 'benchmarks' / 'protocols').glob('*.md')):
        for config, sha in row.findall(path.read_text()):
            out[(path.name, config)] = sha
    return [(p, c, s) for (p, c), s in out.items()]


@pytest.mark.parametrize('protocol, config, sha', _protocol_hash_rows(),
                         ids=lambda v: str(v)[-60:])
def test_committed_protocols_name_the_configs_as_they_are(protocol, config, sha):
    """A protocol pins each arm's resolved config by its SHA-1; editing a pinned config (or a
    base it inherits) after the protocol was committed fails here, naming both."""
    env = subprocess_env(REPO / 'data/sim_kitti', 1)
    assert qj.config_hash(config, [], env) == sha, (
        f'{config} no longer resolves to the config {protocol} pinned ({sha}): amend the '
        f'protocol or restore the config')
