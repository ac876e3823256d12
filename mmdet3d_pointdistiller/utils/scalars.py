"""Reader of mmengine's ``vis_data/scalars.json`` training logs (one JSON object per line)."""
import json
from pathlib import Path
from typing import List

__all__ = ['read_scalars']


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
