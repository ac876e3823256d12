"""Measured KITTI results next to the PointDistiller paper's Tables 1, 2, 3 and 5.

The library behind ``tools/reproduce_table.py`` (its docstring: usage). Reads ``KittiMetric``
records of ``mim train`` / ``mim test`` work dirs (:func:`load_run`), lays them out as the
paper's rows (:func:`build_rows`) and writes markdown and long-format CSV (:func:`to_markdown`,
:func:`to_csv`). The paper's numbers: :mod:`mmdet3d_pointdistiller.paper_results`.

``KittiMetric`` (mmdet3d 1.4.0) logs AP40 values (percent) under keys like
``Kitti metric/pred_instances_3d/KITTI/Car_3D_AP40_moderate_strict``; ``_strict`` is the
official IoU (0.7 Car, 0.5 Pedestrian/Cyclist), the paper's protocol. The moderate mAP is the
mean of the three classes' moderate APs (as the paper's ``mAP`` column).
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..experiments.paper_ordering import ordering_markdown
from ..paper_results import CLASSES, COLUMNS, TASKS, paper_table

__all__ = ['ResultError', 'RunMetrics', 'read_records', 'parse_metrics', 'collect_records',
           'load_run', 'load_runs', 'row_listing', 'build_rows', 'to_markdown', 'to_csv',
           'parse_runs', 'print_ordering', 'METRIC_RE']

METRIC_RE = re.compile(r'^(?:(?P<prefix>.*)/)?KITTI/(?P<cls>Car|Pedestrian|Cyclist)_'
                       r'(?P<task>BEV|3D)_AP40_(?P<diff>easy|moderate|hard)_strict$')
_TASK_OF = {'BEV': 'bev', '3D': 'd3'}
_SHORT = {'Car': 'Car', 'Pedestrian': 'Ped', 'Cyclist': 'Cyc'}
_DIFF = {'easy': 'E', 'moderate': 'M', 'hard': 'H'}


class ResultError(Exception):
    """Results cannot be read (missing path, no KittiMetric record, ambiguous prefix)."""


@dataclass
class RunMetrics:
    """KITTI AP40 values of one evaluation record.

    Attributes:
        values (dict): ``{'bev' | 'd3': {(class, difficulty): AP}}`` (percent).
        source (str): the JSON file read.
        kind (str): ``'test'`` (``<ts>/<ts>.json``) or ``'val'`` (``vis_data/scalars.json``)
            or ``'json'`` (a file given directly that is neither).
        step (int | None): the record's ``step`` (epoch or iteration of a validation).
    """
    values: Dict[str, Dict[Tuple[str, str], float]]
    source: str
    kind: str
    step: Optional[int] = None
    prefix: str = ''
    extra: Dict[str, float] = field(default_factory=dict)

    def moderate_map(self, task: str) -> Optional[float]:
        """Mean of the three classes' moderate AP; None if a class is missing."""
        vals = [self.values.get(task, {}).get((c, 'moderate')) for c in CLASSES]
        if any(v is None for v in vals):
            return None
        return sum(vals) / len(vals)


# ----------------------------------------------------------------------------- reading
def read_records(path: Path) -> List[dict]:
    """JSON objects of a file read as a stream of JSON values: one (possibly indented) object,
    as ``mim test`` writes, or one object per line (mmengine scalars); non-objects are skipped.

    Raises:
        ResultError: ``<path>:<line>: not JSON (...)``, naming the line where the first value that
            does not parse starts.
    """
    text = path.read_text()
    decoder = json.JSONDecoder()
    records, pos = [], 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            return records
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:  # the line where the broken value starts
            line = text.count('\n', 0, pos) + 1
            raise ResultError(f'{path}:{line}: not JSON ({exc.msg})') from exc
        if isinstance(obj, dict):
            records.append(obj)


def parse_metrics(record: dict, source: str, kind: str,
                  metric_prefix: Optional[str] = None) -> Optional[RunMetrics]:
    """The KittiMetric AP40 (strict) values of one logged record, or None if it has none.

    Raises:
        ResultError: if the record holds several metric prefixes (e.g. two evaluators) and
            ``metric_prefix`` does not choose one.
    """
    by_prefix: Dict[str, Dict[str, Dict[Tuple[str, str], float]]] = {}
    for key, value in record.items():
        m = METRIC_RE.match(key)
        if m is None or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        prefix = m.group('prefix') or ''
        task = _TASK_OF[m.group('task')]
        by_prefix.setdefault(prefix, {}).setdefault(task, {})[
            (m.group('cls'), m.group('diff'))] = float(value)
    if metric_prefix is not None:
        by_prefix = {p: v for p, v in by_prefix.items() if p == metric_prefix}
    if not by_prefix:
        return None
    if len(by_prefix) > 1:
        preferred = [p for p in by_prefix if p.endswith('pred_instances_3d')]
        if len(preferred) != 1:
            raise ResultError(f'{source}: several KittiMetric prefixes {sorted(by_prefix)}; '
                              f'choose one with --metric-prefix')
        by_prefix = {preferred[0]: by_prefix[preferred[0]]}
    prefix, values = next(iter(by_prefix.items()))
    step = record.get('step')
    return RunMetrics(values=values, source=source, kind=kind,
                      step=int(step) if isinstance(step, (int, float)) else None,
                      prefix=prefix)


def _kind(path: Path) -> str:
    if path.parent.name == 'vis_data':
        return 'val'
    if path.stem == path.parent.name:
        return 'test'
    return 'json'


def _timestamp_of(path: Path) -> str:
    """The mmengine timestamp directory (``YYYYMMDD_HHMMSS``) a file lies in, else ''."""
    for part in reversed(path.parts[:-1]):
        if re.fullmatch(r'\d{8}_\d{6}', part):
            return part
    return ''


def collect_records(path: Path, metric_prefix: Optional[str] = None) -> List[RunMetrics]:
    """Every KittiMetric record under ``path`` (a JSON file or a work dir)."""
    if not path.exists():
        raise ResultError(f'{path} does not exist')
    if path.is_file():
        files = [path]
    else:
        files = sorted(path.rglob('*.json'))
        # vis_data/<ts>.json duplicates vis_data/scalars.json line for line
        files = [f for f in files if not (f.parent.name == 'vis_data' and f.stem != 'scalars'
                                          and (f.parent / 'scalars.json').is_file())]
    out = []
    for f in files:
        kind = _kind(f)
        for record in read_records(f):
            metrics = parse_metrics(record, str(f), kind, metric_prefix)
            if metrics is not None:
                out.append(metrics)
    return out


def load_run(path: Path, select: str = 'last',
             metric_prefix: Optional[str] = None) -> RunMetrics:
    """The evaluation record that stands for one run (see the module doc for the rules)."""
    if select not in ('last', 'best'):
        raise ValueError(f"select must be 'last' or 'best', got {select!r}")
    records = collect_records(Path(path), metric_prefix)
    if not records:
        raise ResultError(f'{path}: no KittiMetric AP40 record found (keys like '
                          f'"Kitti metric/pred_instances_3d/KITTI/Car_3D_AP40_moderate_strict" '
                          f'in <timestamp>/<timestamp>.json or vis_data/scalars.json)')
    tests = [r for r in records if r.kind in ('test', 'json')]
    pool = tests or records
    if select == 'best':
        def score(r: RunMetrics) -> float:
            m = r.moderate_map('d3')
            m = r.moderate_map('bev') if m is None else m
            return -math.inf if m is None else m
        return max(pool, key=score)
    # last: newest timestamp dir, then file order, then the last record of that file
    order = {id(r): i for i, r in enumerate(pool)}
    return max(pool, key=lambda r: (_timestamp_of(Path(r.source)), order[id(r)]))


# ----------------------------------------------------------------------------- table
def build_rows(table: int, runs: Dict[str, RunMetrics]) -> List[dict]:
    """Long-format cells: one dict per (task, row, class/difficulty or mAP).

    Keys: ``table, task, key, label, class, difficulty, measured, paper, diff, source``
    (``measured``/``diff`` are None for a row without a run or a missing value).

    Raises:
        KeyError: a run key that is not a row of the table (naming the valid keys).
    """
    spec = paper_table(table)
    keys = [r['key'] for r in spec['rows']]
    unknown = sorted(set(runs) - set(keys))
    if unknown:
        raise KeyError(f'--runs keys {unknown} are not rows of Table {table}; valid keys: '
                       f'{keys}')
    cells = []
    for task in spec['tasks']:
        for row in spec['rows']:
            run = runs.get(row['key'])
            paper = row['values'][task]
            items = [(c, d, paper[(c, d)],
                      run.values.get(task, {}).get((c, d)) if run else None)
                     for c, d in COLUMNS]
            items.append(('mAP', 'moderate', paper['mAP'],
                          run.moderate_map(task) if run else None))
            for cls, diff, p, m in items:
                cells.append(dict(
                    table=table, task=TASKS[task], key=row['key'], label=row['label'],
                    **{'class': cls}, difficulty=diff, measured=m, paper=p,
                    diff=None if m is None else m - p,
                    source=run.source if run else ''))
    return cells


def _fmt(value: Optional[float], digits: int, signed: bool = False) -> str:
    if value is None:
        return '–'
    return f'{value:+.{digits}f}' if signed else f'{value:.{digits}f}'


def to_markdown(table: int, cells: List[dict], runs: Dict[str, RunMetrics],
                digits: int = 2) -> str:
    """Markdown: per task, each row as measured / paper / difference lines."""
    spec = paper_table(table)
    head = ['Row', ''] + [f'{_SHORT[c]} {_DIFF[d]}' for c, d in COLUMNS] + ['mAP (mod.)']
    lines = [f'## Table {table}: {spec["title"]}', '',
             f'Paper numbers: {spec["source"]}. Measured: KittiMetric AP40 (strict IoU), '
             f'mAP = mean of the three moderate APs; difference = measured - paper.', '']
    for task in spec['tasks']:
        name = TASKS[task]
        lines += [f'### {name} AP (R40)', '', '| ' + ' | '.join(head) + ' |',
                  '|' + '---|' * len(head)]
        for row in spec['rows']:
            mine = [c for c in cells if c['task'] == name and c['key'] == row['key']]
            has_run = row['key'] in runs
            label = f'{row["label"]} (`{row["key"]}`)'
            if has_run:
                lines.append('| ' + ' | '.join([label, 'measured'] + [
                    _fmt(c['measured'], digits) for c in mine]) + ' |')
                lines.append('| ' + ' | '.join(['', 'paper'] + [
                    _fmt(c['paper'], 1) for c in mine]) + ' |')
                lines.append('| ' + ' | '.join(['', 'difference'] + [
                    _fmt(c['diff'], digits, signed=True) for c in mine]) + ' |')
            else:
                lines.append('| ' + ' | '.join([label, 'paper'] + [
                    _fmt(c['paper'], 1) for c in mine]) + ' |')
        lines.append('')
    if runs:
        lines += ['Runs:', '']
        for key, run in runs.items():
            step = f', step {run.step}' if run.step is not None else ''
            lines.append(f'- `{key}`: {run.source} ({run.kind}{step})')
        lines.append('')
    return '\n'.join(lines)


def to_csv(cells: List[dict], digits: int = 4) -> str:
    """CSV, one line per cell: table,task,key,label,class,difficulty,measured,paper,diff,source."""
    buf = io.StringIO()
    fields = ['table', 'task', 'key', 'label', 'class', 'difficulty', 'measured', 'paper',
              'diff', 'source']
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator='\n')
    writer.writeheader()
    for c in cells:
        writer.writerow({**c,
                         'measured': '' if c['measured'] is None else
                         f'{c["measured"]:.{digits}f}',
                         'paper': f'{c["paper"]:.1f}',
                         'diff': '' if c['diff'] is None else f'{c["diff"]:.{digits}f}'})
    return buf.getvalue()


def parse_runs(items: Sequence[str]) -> Dict[str, Path]:
    """``KEY=PATH`` items of ``--runs`` -> ``{key: path}``.

    Raises:
        ResultError: an item without ``=``, an empty side, a key given twice.
    """
    runs: Dict[str, Path] = {}
    for item in items:
        if '=' not in item:
            raise ResultError(f'--runs expects KEY=PATH, got {item!r}')
        key, path = item.split('=', 1)
        if not key or not path:
            raise ResultError(f'--runs expects KEY=PATH, got {item!r}')
        if key in runs:
            raise ResultError(f'--runs names {key!r} twice')
        runs[key] = Path(path)
    return runs


def load_runs(table: int, items: Sequence[str], select: str = 'last',
              metric_prefix: Optional[str] = None) -> Dict[str, RunMetrics]:
    """``--runs KEY=PATH`` items -> ``{row key: RunMetrics}`` for the paper's Table ``table``.

    Raises:
        ResultError: a malformed item, a key that is not a row of the table (the valid keys are
            listed), or a path without a KittiMetric record.
    """
    paths = parse_runs(items)
    keys = [r['key'] for r in paper_table(table)['rows']]
    unknown = sorted(set(paths) - set(keys))
    if unknown:
        raise ResultError(f'--runs keys {unknown} are not rows of Table {table}; '
                          f'valid keys: {keys}')
    return {k: load_run(p, select, metric_prefix) for k, p in paths.items()}


def row_listing(table: int) -> str:
    """``--list-rows``: one line per row of Table ``table``: key, label, config."""
    return '\n'.join(f'{row["key"]:32s} {row["label"]}  [{row["config"]}]'
                     for row in paper_table(table)['rows'])


def print_ordering(record_path: str, ratio: str, out: Optional[str] = None) -> int:
    """``--record`` mode: print a KD-gain record's gains beside the paper's ordering (and
    write ``<out>.md``); returns the exit status (2 naming the record on a bad file or ratio)."""
    path = Path(record_path)
    try:
        record = json.loads(path.read_text())
        markdown = ordering_markdown(record, ratio, source=record_path)
    except (OSError, ValueError) as exc:  # unreadable file, bad JSON, unknown ratio
        print(f'reproduce_table: error: --record {record_path}: {exc}', file=sys.stderr)
        return 2
    print(markdown)
    if out:
        target = Path(out).with_suffix('.md')
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(markdown)
        print(f'wrote {target}', file=sys.stderr)
    return 0
