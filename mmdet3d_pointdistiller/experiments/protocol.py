"""Pre-registration that git can verify: a benchmark record names the protocol file it follows
and the commit that added it, every run records when it started, and the record is labelled
confirmatory only if every run started after that commit. A record whose runs all started
after the protocol's *first* commit but partly before a later amendment is labelled
pre-registered and amended during its runs: not confirmatory, and it says which amendment came
after which runs.

A protocol (``benchmarks/protocols/<record>.md``) states the question, the arms with their
config paths and config hashes, seeds, budget, primary metric, analysis and decision rule. It
must be committed, unmodified in the work tree, before the runs it governs start; the
commit's committer time (ISO 8601) is the reference.
"""
from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

__all__ = ['protocol_info', 'registration', 'confirmatory_status', 'status_text', 'flat_runs']


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(['git', *args], cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ValueError(f'git {" ".join(args)} failed in {repo}: {proc.stderr.strip()}')
    return proc.stdout.strip()


def protocol_info(path: Union[str, Path], repo: Union[str, Path]) -> Dict[str, str]:
    """``{file, commit, committed_at, registered_commit, registered_at}`` of a protocol file:
    the commit that last changed it and its committer time, and the commit that first added it
    (the registration) and its time.

    Args:
        path: the protocol file, relative to ``repo`` (or absolute inside it).
        repo: the repository root.

    Raises:
        ValueError: the file does not exist, is not committed, or has uncommitted changes
            (a protocol edited after its commit no longer says what was registered).
    """
    repo = Path(repo).resolve()
    full = (repo / path).resolve()
    if not full.is_file():
        raise ValueError(f'protocol {path} not found')
    rel = full.relative_to(repo).as_posix()
    commits = _commits(repo, rel)  # newest first
    if not commits:
        raise ValueError(f'protocol {rel} is not committed: commit it before the runs start')
    if _git(repo, 'status', '--porcelain', '--', rel):
        raise ValueError(f'protocol {rel} has uncommitted changes: commit them (the record '
                         f'then follows the new version) or restore the committed file')
    commit, committed_at = commits[0]
    registered_commit, registered_at = commits[-1]
    return dict(file=rel, commit=commit, committed_at=committed_at,
                registered_commit=registered_commit, registered_at=registered_at)


def _commits(repo: Path, rel: str) -> List[Tuple[str, str]]:
    """``(commit, committer time)`` of every commit that changed ``rel``, newest first."""
    return [tuple(line.split(' ', 1)) for line in
            _git(repo, 'log', '--format=%H %cI', '--', rel).splitlines()]


def registration(path: str, repo: Union[str, Path]) -> Dict[str, str]:
    """``{registered_commit, registered_at}``: the commit that first added protocol ``path``
    (relative to ``repo``) and its committer time.

    Raises:
        ValueError: the file has no commit.
    """
    commits = _commits(Path(repo), path)
    if not commits:
        raise ValueError(f'protocol {path} is not committed')
    commit, at = commits[-1]
    return dict(registered_commit=commit, registered_at=at)


def confirmatory_status(protocol: Optional[dict], runs: List[dict]) -> Dict[str, object]:
    """Whether a record is confirmatory: it has a protocol and every run (each with an ISO 8601
    ``started_at``) started strictly after the protocol's commit time.

    Returns:
        dict: ``confirmatory`` (bool), ``why`` (one sentence; names the runs that started
        before the protocol or have no start time) and, where the protocol records its
        registration (``registered_at``), ``amended_during_runs`` (bool): every run started
        after the registration, some before the last amendment.
    """
    if not protocol:
        return dict(confirmatory=False, why='no protocol')
    ref = datetime.fromisoformat(protocol['committed_at'])
    unknown = [_name(r) for r in runs if not r.get('started_at')]
    early = [_name(r) for r in runs
             if r.get('started_at') and datetime.fromisoformat(r['started_at']) <= ref]
    if not runs:
        return dict(confirmatory=False, why='no run finished yet')
    registered = protocol.get('registered_at')
    pre = early if not registered else [
        _name(r) for r in runs if r.get('started_at') and
        datetime.fromisoformat(r['started_at']) <= datetime.fromisoformat(registered)]
    amended = [n for n in early if n not in pre]  # after the registration, before the last change
    if amended and not pre and not unknown:
        return dict(confirmatory=False, amended_during_runs=True,
                    why=f'pre-registered at {registered} (commit '
                        f'{protocol["registered_commit"][:10]}) and every run started after '
                        f'that, but the protocol was amended at {protocol["committed_at"]} '
                        f'(commit {protocol["commit"][:10]}) after {len(amended)} of the '
                        f'{len(runs)} runs had started: ' + ', '.join(amended))
    if unknown or early:
        when = f' ({registered})' if registered else ''
        parts = ([f'{len(pre)} run(s) started before the protocol commit{when}: '
                  + ', '.join(pre)] if pre else []) + (
            [f'{len(amended)} more started before its last amendment '
             f'({protocol["committed_at"]}): ' + ', '.join(amended)] if amended else []) + (
            [f'{len(unknown)} run(s) have no start time: ' + ', '.join(unknown)]
            if unknown else [])
        return dict(confirmatory=False, why='; '.join(parts))
    return dict(confirmatory=True,
                why=f'all {len(runs)} runs started after {protocol["committed_at"]}')


def status_text(status: dict) -> str:
    """A :func:`confirmatory_status` result as a record states it, e.g. ``'**Confirmatory**:
    all 9 runs started after ....'``."""
    label = ('**Confirmatory**' if status.get('confirmatory') else
             '**Pre-registered, amended during its runs** (not confirmatory)'
             if status.get('amended_during_runs') else '**Not confirmatory**')
    return f"{label}: {status.get('why', 'not checked')}."


def _name(run: dict) -> str:
    return f"{run['ratio']} {run['method']} seed {run['seed']}"


def flat_runs(rec: dict) -> List[dict]:
    """One dict per finished run of a paired-seed record: ``method, ratio, seed, config,
    started_at, config_hash, map_3d, map_bev`` (the per-ratio ``runs`` hold the rest)."""
    out = []
    for ratio, entry in rec.get('ratios', {}).items():
        for method, runs in entry.get('runs', {}).items():
            for seed, r in runs.items():
                out.append(dict(method=method, ratio=ratio, seed=int(seed),
                                config=entry['methods'].get(method),
                                started_at=r.get('started_at'),
                                config_hash=r.get('config_hash'), map_3d=r.get('map_3d'),
                                map_bev=r.get('map_bev')))
    return out
