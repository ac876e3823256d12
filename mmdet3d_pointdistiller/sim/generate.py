"""The dataset driver: simulate frames in parallel and write a complete KITTI-format dataset."""
from __future__ import annotations

import importlib.util
import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np
from tqdm import tqdm

from .frame import simulate_frame
from .kitti_writer import write_frame, write_image_sets, write_testing_split
from .spec import LidarSpec

__all__ = ['generate_dataset', 'mmdet3d_mim_root']


def mmdet3d_mim_root() -> str:
    """The ``.mim`` folder of the installed mmdet3d; put it on ``PYTHONPATH`` so that
    ``mim run mmdet3d create_data`` can import its ``tools.dataset_converters`` package."""
    spec = importlib.util.find_spec('mmdet3d')
    if spec is None or spec.origin is None:
        raise ImportError('mmdet3d is not installed')
    return str(Path(spec.origin).parent / '.mim')


def _simulate_and_write(args: Tuple[str, int, int, LidarSpec]
                        ) -> Tuple[int, int, Dict[str, int], float]:
    """Simulate and write one frame; returns ``(index, num_points, label counts, seconds)``."""
    root, seed, index, spec = args
    t0 = time.perf_counter()
    frame = simulate_frame(seed, index, spec)
    write_frame(root, index, frame)
    counts: Dict[str, int] = {}
    for lab in frame.labels:
        counts[lab.type] = counts.get(lab.type, 0) + 1
    return index, frame.points.shape[0], counts, time.perf_counter() - t0


def generate_dataset(out: os.PathLike, num_train: int, num_val: int, seed: int = 0,
                     spec: Optional[LidarSpec] = None, workers: int = 1,
                     progress: bool = True, val_start: Optional[int] = None) -> dict:
    """Simulate ``num_train + num_val`` frames into the KITTI layout under ``out``.

    Frames ``0..num_train-1`` form the train split, frames ``val_start..val_start+num_val-1``
    (default ``val_start = num_train``: the frames right after the train split) the val split;
    frame ``i`` is drawn from ``rng([seed, i])``, so a few frames of a large dataset's val
    split can be re-created alone (e.g. ``num_train=1, val_start=1500``). The test split
    repeats the val frames without labels (``testing/``, see :func:`write_testing_split`).

    Returns:
        dict: ``frames``, ``seconds``, ``frames_per_s`` (wall), ``cpu_seconds_per_frame``,
        ``points_per_frame`` (mean), ``labels`` (count per class).
    """
    if num_train < 1 or num_val < 1:
        raise ValueError(f'need num_train >= 1 and num_val >= 1 (mmdet3d\'s converter fails on '
                         f'empty splits), got {num_train}, {num_val}')
    spec = spec or LidarSpec()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    val_start = num_train if val_start is None else int(val_start)
    if val_start < num_train:
        raise ValueError(f'val_start={val_start} overlaps the train frames 0..{num_train - 1}')
    ids = list(range(num_train)) + list(range(val_start, val_start + num_val))
    jobs = [(str(out), seed, i, spec) for i in ids]
    t0 = time.perf_counter()
    results = []
    bar = None
    if progress:
        bar = tqdm(total=len(jobs), unit='frame', desc='simulate KITTI')
    if workers > 1:
        with mp.get_context('fork').Pool(workers) as pool:
            for r in pool.imap(_simulate_and_write, jobs, chunksize=4):
                results.append(r)
                if bar is not None:
                    bar.update(1)
    else:
        for job in jobs:
            results.append(_simulate_and_write(job))
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    test_ids = ids[num_train:]
    write_testing_split(out, test_ids)
    write_image_sets(out, ids[:num_train], ids[num_train:], test_ids)
    seconds = time.perf_counter() - t0
    labels: Dict[str, int] = {}
    for _, _, counts, _ in results:
        for k, v in counts.items():
            labels[k] = labels.get(k, 0) + v
    return dict(frames=len(ids), seconds=seconds, frames_per_s=len(ids) / max(seconds, 1e-9),
                cpu_seconds_per_frame=float(np.mean([r[3] for r in results])),
                points_per_frame=float(np.mean([r[1] for r in results])),
                labels=dict(sorted(labels.items())))
