"""Writing simulated frames in KITTI's folder layout and file formats."""
from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Dict, Iterable, Sequence, Tuple

import numpy as np
from PIL import Image

from .calib import CALIB_TEXT, IMAGE_HEIGHT, IMAGE_WIDTH, lidar_plane_to_camera
from .spec import KittiLabel, SimFrame

__all__ = ['format_label_line', 'iter_label_lines', 'placeholder_png', 'write_frame',
           'write_image_sets', 'write_testing_split']


def format_label_line(lab: KittiLabel) -> str:
    """One KITTI ``label_2`` line (15 fields, KITTI's precision)."""
    vals = [lab.truncated, lab.occluded, lab.alpha, *lab.bbox, *lab.dimensions, *lab.location,
            lab.rotation_y]
    return (f'{lab.type} {vals[0]:.2f} {int(vals[1])} {vals[2]:.2f} '
            + ' '.join(f'{v:.2f}' for v in vals[3:]))


def iter_label_lines(frame: SimFrame) -> Iterable[str]:
    """The ``label_2`` lines of a frame."""
    return (format_label_line(lab) for lab in frame.labels)


_PNG_CACHE: Dict[Tuple[int, int], bytes] = {}


def placeholder_png(width: int = IMAGE_WIDTH, height: int = IMAGE_HEIGHT) -> bytes:
    """Bytes of a black RGB PNG of the KITTI image size (the converter reads its shape)."""
    key = (width, height)
    if key not in _PNG_CACHE:
        buf = io.BytesIO()
        Image.new('RGB', (width, height)).save(buf, format='PNG', optimize=True)
        _PNG_CACHE[key] = buf.getvalue()
    return _PNG_CACHE[key]


def write_frame(root: os.PathLike, index: int, frame: SimFrame, split: str = 'training') -> None:
    """Write one frame into ``root/split/{velodyne,label_2,calib,image_2,planes}/%06d.*``."""
    base = Path(root) / split
    name = f'{index:06d}'
    for sub in ('velodyne', 'label_2', 'calib', 'image_2', 'planes'):
        (base / sub).mkdir(parents=True, exist_ok=True)
    frame.points.astype(np.float32).tofile(base / 'velodyne' / f'{name}.bin')
    text = ''.join(format_label_line(lab) + '\n' for lab in frame.labels)
    (base / 'label_2' / f'{name}.txt').write_text(text)
    (base / 'calib' / f'{name}.txt').write_text(CALIB_TEXT)
    (base / 'image_2' / f'{name}.png').write_bytes(placeholder_png())
    plane = lidar_plane_to_camera(frame.plane)
    (base / 'planes' / f'{name}.txt').write_text(
        '# Plane\nWidth 4\nHeight 1\n' + ' '.join(f'{v:.6e}' for v in plane) + '\n')


def write_image_sets(root: os.PathLike, train_ids: Sequence[int], val_ids: Sequence[int],
                     test_ids: Sequence[int] = ()) -> None:
    """Write ``ImageSets/{train,val,trainval,test}.txt``."""
    d = Path(root) / 'ImageSets'
    d.mkdir(parents=True, exist_ok=True)

    def dump(name: str, ids: Sequence[int]) -> None:
        (d / name).write_text(''.join(f'{i:06d}\n' for i in ids))

    dump('train.txt', train_ids)
    dump('val.txt', val_ids)
    dump('trainval.txt', sorted(list(train_ids) + list(val_ids)))
    dump('test.txt', test_ids)


def write_testing_split(root: os.PathLike, ids: Sequence[int]) -> None:
    """Expose frames ``ids`` of ``training/`` as KITTI's unlabelled ``testing/`` split
    (velodyne, calib, image_2; hard links, copies where links are impossible).

    mmdet3d 1.4's converter needs a non-empty test split: ``update_kitti_infos`` raises
    ``UnboundLocalError: ignore_class_name`` on an empty ``ImageSets/test.txt``.
    """
    root = Path(root)
    for sub, ext in (('velodyne', 'bin'), ('calib', 'txt'), ('image_2', 'png')):
        (root / 'testing' / sub).mkdir(parents=True, exist_ok=True)
        for i in ids:
            src = root / 'training' / sub / f'{i:06d}.{ext}'
            dst = root / 'testing' / sub / f'{i:06d}.{ext}'
            if dst.exists() or dst.is_symlink():
                dst.unlink()
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)
