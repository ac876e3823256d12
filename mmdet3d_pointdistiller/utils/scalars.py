"""Readers of a run's mmengine logs: ``vis_data/scalars.json`` (one JSON object per line) and
the text log's timestamps (training wall time)."""
import datetime
import json
import re
from pathlib import Path
from typing import List, Union

__all__ = ['read_scalars', 'logged_wall_time']


def read_scalars(work_dir: str) -> List[dict]:
    """All records of every ``<work_dir>/<timestamp>/vis_data/scalars.json``, in time order.

    A resumed run writes a new timestamp folder; its records follow those of the earlier ones.

    Raises:
        FileNotFoundError: naming the work dir, if it has no ``scalars.json``.
    """
    files = sorted(Path(work_dir).glob('*/vis_data/scalars.json'))
    if not files:
        raise FileNotFoundError(f'no */vis_data/scalars.json under {work_dir}')
    records = []
    for f in files:
        with open(f) as fh:
            records.extend(json.loads(line) for line in fh if line.strip())
    return records


def logged_wall_time(work_dir: Union[str, Path]) -> float:
    """Training wall time of the run in ``work_dir``: the sum over its training processes
    (one mmengine log each, ``<work_dir>/<timestamp>/<timestamp>.log``, lines start
    ``YYYY/MM/DD HH:MM:SS``; a resumed run has several) of the seconds between the first and
    the last line of the process's log. Time between processes (a run interrupted and resumed
    later) is not counted; NaN without logs."""
    stamp = re.compile(r'^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2})')
    total, found = 0.0, False
    for log in sorted(Path(work_dir).glob('*/*.log')):
        stamps = [datetime.datetime.strptime(m.group(1), '%Y/%m/%d %H:%M:%S')
                  for m in map(stamp.match, log.read_text(errors='replace').splitlines()) if m]
        if stamps:
            found = True
            total += (max(stamps) - min(stamps)).total_seconds()
    return total if found else float('nan')
