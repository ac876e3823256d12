"""The sim metafile entry of a shipped zoo student (``configs/sim/metafile.yml``, OpenMMLab
model-index format): its weights, their sha256 and its results, from the zoo record.

The file is edited as text, entry by entry, so that its layout and comments stay as written
(``tests/test_metafiles.py`` checks every entry against the records).
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

__all__ = ['METAFILE', 'TASKS', 'CLASSES', 'entry_lines', 'write_metafile_entry']

#: the sim collection's metafile, relative to the repository root
METAFILE = 'configs/sim/metafile.yml'
#: metafile task name -> (record AP key, record mAP key)
TASKS = {'3D Object Detection': ('3D', 'map_3d'), 'BEV Object Detection': ('BEV', 'map_bev')}
CLASSES = ('Car', 'Pedestrian', 'Cyclist')
_DATASET = 'Simulated KITTI-format (tools/simulate_kitti.py)'


def entry_lines(rec: dict, what: str) -> List[str]:
    """The lines that a shipped student's entry gets after its ``Metadata`` architecture:
    ``Results Source``, ``Weights SHA256``, ``Results`` (AP40 moderate, 3D and BEV, rounded
    to 0.01) and ``Weights``.

    Args:
        rec (dict): the zoo record (``record``, ``sha256``, ``checkpoint``, ``ap``, ``map_3d``,
            ``map_bev``, ``source``).
        what (str): what the weights are, e.g. ``'the 16x student alone'``.
    """
    src = rec['source']
    lines = [f"      Results Source: 'Measured: {rec['record']} (sim val split, "
             f"{rec.get('val_frames', 300)} frames, KittiMetric AP40, moderate; the shipped fp16 "
             f"weights as evaluated). Seed {src['seed']} of the reporting runs "
             f"({src['record'].replace('.json', '.md')}): {what}; one seed, not the measured "
             "effect'",
             f"      Weights SHA256: {rec['sha256']}",
             '    Results:']
    for task, (key, map_key) in TASKS.items():
        lines += [f'      - Task: {task}', f'        Dataset: {_DATASET}', '        Metrics:',
                  f'          mAP (AP40, moderate): {round(rec[map_key], 2)}']
        lines += [f"          {c} AP40 (moderate): {round(rec['ap'][key][c]['moderate'], 2)}"
                  for c in CLASSES]
    return lines + [f"    Weights: {rec['checkpoint']}"]


def write_metafile_entry(rec: dict, what: str, repo: Path,
                         metafile: Optional[str] = None) -> None:
    """Replace, in the entry whose ``Config`` is ``rec['config']``, everything from its
    ``Results Source`` line to the end of the entry by :func:`entry_lines` (idempotent).

    Raises:
        KeyError: the metafile has no entry (or no ``Results Source``) for the config; the
            message names both.
    """
    path = Path(repo) / (metafile or METAFILE)
    lines = path.read_text().split('\n')
    config_line = f"    Config: {rec['config']}"
    if config_line not in lines:
        raise KeyError(f"{path} has no entry with 'Config: {rec['config']}': add the leaf "
                       "config's entry (Name, In Collection, Config, Metadata) first")
    start = lines.index(config_line)
    end = next((i for i in range(start, len(lines)) if lines[i].startswith('  - Name: ')),
               len(lines))
    source = next((i for i in range(start, end)
                   if lines[i].startswith('      Results Source:')), None)
    if source is None:
        raise KeyError(f"{path}: the entry of {rec['config']} has no 'Results Source' line")
    tail = end
    while tail > source and lines[tail - 1] == '':  # keep the blank lines that end the file
        tail -= 1
    lines[source:tail] = entry_lines(rec, what)
    path.write_text('\n'.join(lines))
