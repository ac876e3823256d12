"""JSON records on disk: read if present, write atomically."""
import json
import os
from pathlib import Path
from typing import Any, Optional

__all__ = ['read_json', 'write_json']


def read_json(path: Path) -> Optional[Any]:
    """The JSON content of ``path``, or None if there is no such file."""
    if not Path(path).is_file():
        return None
    with open(path) as f:
        return json.load(f)


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` to ``path`` (indented, sorted keys) through a temporary file and a rename,
    so a reader never sees a half-written file; creates the parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + '.tmp')
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=1, sort_keys=True)
    os.replace(tmp, path)
