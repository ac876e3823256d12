"""Load a config named as a file path or as ``mmdet3d::<path inside mmdet3d's configs>``.

One loader for every place that takes a config name: a distiller's ``teacher.cfg_path``, the
deployment benchmark's model table, the tools. ``mmdet3d::`` names go through mmengine's hub
(the configs installed with mmdet3d, via ``mim``); other names are files, absolute or relative
to ``root`` when given (e.g. the repository for its own ``configs/``), else to the working
directory.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from mmengine.config import Config
from mmengine.hub import get_config

__all__ = ['load_config']


def load_config(name: Union[str, Path], root: Optional[Union[str, Path]] = None,
                key: str = 'config') -> Config:
    """The config ``name`` (``mmdet3d::...`` or a file).

    Args:
        name: ``'mmdet3d::pointpillars/...py'`` or a path.
        root: folder a relative path is resolved against (default: the working directory).
        key: the option or config key that named it, for the error message.

    Raises:
        FileNotFoundError: naming ``key`` and the path looked at.
    """
    name = str(name)
    if '::' in name:
        return get_config(name)
    path = Path(name)
    if not path.is_absolute() and root is not None:
        path = Path(root) / path
    if not path.is_file():
        raise FileNotFoundError(f'{key}={name!r} is not a file ({path})')
    return Config.fromfile(str(path))
