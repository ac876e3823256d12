"""The frozen teacher: its config, its checkpoint, and the state-dict rules of a distiller.

* :func:`load_teacher_config`: ``model.teacher`` as a detector config or a config file.
* :func:`check_same_preprocessing`: the teacher sees the distiller's preprocessed inputs,
  so its ``data_preprocessor`` must equal the distiller's.
* :func:`check_teacher_ckpt_path` / :func:`load_teacher_checkpoint`: ``model.teacher_ckpt``,
  a teacher detector checkpoint or a checkpoint of a distillation run (which carries its
  teacher), loaded strictly.
* :func:`freeze_teacher`: no gradients, ``eval()``, left out of DistributedDataParallel.
* :func:`check_distiller_state_dict`: a ``--resume`` / ``load_from`` checkpoint must
  restore the whole distiller (student, teacher, adapters).
"""
from __future__ import annotations

import copy
import inspect
import logging
import os.path as osp
import re
from collections import OrderedDict
from typing import Any, Callable, List, Optional, Tuple, Union

import torch
from mmengine.config import ConfigDict
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader
from torch import Tensor, nn

from ...compat.checkpoint import UnsafeCheckpointError
from ...utils.config_files import load_config
from .state_dict import TEACHER, has_part, sub_state_dict

__all__ = ['load_teacher_config', 'check_same_preprocessing', 'check_teacher_ckpt_path',
           'load_teacher_checkpoint', 'freeze_teacher', 'teacher_takes_metas',
           'check_distiller_state_dict']


def load_teacher_config(teacher: Union[dict, ConfigDict]) -> dict:
    """The teacher's model config.

    Args:
        teacher: either a detector config dict (with ``type``) or
            ``dict(cfg_path='mmdet3d::pointpillars/...py')`` / ``dict(cfg_path='path/to/cfg.py')``,
            meaning "the ``model`` of that config file".

    Returns:
        ConfigDict: the model config (attribute access, as mmdet3d heads expect).
    """
    if not isinstance(teacher, (dict, ConfigDict)):
        raise TypeError(f'teacher must be a model config dict or dict(cfg_path=...), '
                        f'got {type(teacher).__name__}')
    if 'cfg_path' not in teacher:
        if 'type' not in teacher:
            raise KeyError("teacher must have either 'type' (a detector config) or "
                           "'cfg_path' (a config file whose model is the teacher)")
        return ConfigDict(copy.deepcopy(dict(teacher)))
    extra = set(teacher) - {'cfg_path'}
    if extra:
        raise KeyError(f"teacher=dict(cfg_path=...) takes no other keys, got {sorted(extra)}; "
                       f"put the teacher weights in model.teacher_ckpt")
    cfg_path = teacher['cfg_path']
    cfg = load_config(cfg_path, key='teacher.cfg_path')
    if 'model' not in cfg:
        raise KeyError(f'teacher.cfg_path={cfg_path!r} has no `model` field')
    return ConfigDict(copy.deepcopy(cfg.model))


def _config_diff(a: Any, b: Any, prefix: str = '') -> List[Tuple[str, Any, Any]]:
    """Recursive differences between two plain config values as ``(dotted key, a, b)``."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            sub = f'{prefix}.{key}' if prefix else str(key)
            if key not in a:
                out.append((sub, '<unset>', b[key]))
            elif key not in b:
                out.append((sub, a[key], '<unset>'))
            else:
                out.extend(_config_diff(a[key], b[key], sub))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        if all(not isinstance(x, (dict, list)) for x in a + b):
            return [] if a == b else [(prefix, a, b)]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out.extend(_config_diff(x, y, f'{prefix}[{i}]'))
        return out
    return [] if a == b else [(prefix, a, b)]


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return '[' + ','.join(_fmt(v) for v in value) + ']'
    return str(value)


def _abbrev(keys: List[str], limit: int = 8) -> str:
    if len(keys) <= limit:
        return str(keys)
    return str(keys[:limit])[:-1] + f', ... {len(keys) - limit} more]'


def check_same_preprocessing(used: Optional[dict], student_pp: Optional[dict],
                             teacher_pp: Optional[dict]) -> None:
    """The teacher must preprocess exactly like the distiller (= the student).

    Args:
        used (dict, optional): the distiller's ``data_preprocessor`` (plain dict).
        student_pp (dict, optional): ``student.data_preprocessor`` (plain dict).
        teacher_pp (dict, optional): ``teacher.data_preprocessor`` (plain dict).

    Raises:
        ValueError: naming every differing ``data_preprocessor`` field.
    """
    own = 'student' if not _config_diff(student_pp, used) else 'distiller'
    for lhs, other in (('teacher', teacher_pp), ('student', student_pp)):
        if lhs == own:
            continue
        diffs = _config_diff(other, used)
        if not diffs:
            continue
        voxel = bool((used or {}).get('voxel')) or bool((other or {}).get('voxel'))
        what = 'voxelization' if voxel else 'preprocessing'
        detail = '; '.join(f'{k or "data_preprocessor"} {_fmt(a)} vs {_fmt(b)}'
                           for k, a, b in diffs)
        raise ValueError(
            f'{lhs} and {own} {what} differ: {detail} ({lhs}.data_preprocessor vs '
            f'{own} data_preprocessor). The teacher sees the distiller\'s preprocessed '
            f'inputs, so voxel/point correspondence needs identical settings.')


def check_teacher_ckpt_path(teacher_ckpt: Optional[str]) -> None:
    """``model.teacher_ckpt`` is set and names a file (or a URL)."""
    if not teacher_ckpt:
        raise ValueError('teacher_ckpt is required when distill=True: set model.teacher_ckpt '
                         '(e.g. --cfg-options model.teacher_ckpt=checkpoints/teacher.pth), or '
                         'distill=False for the student-only baseline')
    if not isinstance(teacher_ckpt, str):
        raise TypeError(f'teacher_ckpt must be a path string, got {type(teacher_ckpt).__name__}')
    if '://' not in teacher_ckpt and not osp.isfile(osp.expanduser(teacher_ckpt)):
        raise FileNotFoundError(f'teacher_ckpt={teacher_ckpt!r} is not a file (set '
                                f'model.teacher_ckpt to the teacher checkpoint; a checkpoint '
                                f'of this distillation run also works, it carries the teacher)')


def load_teacher_checkpoint(teacher: nn.Module, filename: str) -> None:
    """Load ``filename`` into ``teacher``, refusing any key or shape mismatch.

    ``filename`` is a teacher detector checkpoint or a PointDistiller training checkpoint
    (its ``teacher.*`` weights are used: the checkpoints of a run carry their teacher).
    """
    try:
        ckpt = CheckpointLoader.load_checkpoint(filename, map_location='cpu')
    except UnsafeCheckpointError as exc:
        raise UnsafeCheckpointError(f'model.teacher_ckpt: {exc}') from exc
    except FileNotFoundError:
        raise
    except Exception as exc:  # torch/pickle report a damaged file in many ways
        raise ValueError(
            f'teacher_ckpt {filename} could not be read as a checkpoint '
            f'({type(exc).__name__}: {exc}); the file is corrupt or truncated (an '
            f'interrupted download or copy?) or was not written by torch.save') from exc
    if isinstance(ckpt, dict) and 'state_dict' in ckpt:
        state_dict = ckpt['state_dict']
    else:
        state_dict = ckpt
    if not isinstance(state_dict, dict) or not all(
            isinstance(v, Tensor) for v in state_dict.values()):
        raise ValueError(f'teacher_ckpt {filename}: neither a `state_dict` entry nor a '
                         f'mapping of tensors')
    metadata = getattr(state_dict, '_metadata', OrderedDict())
    state_dict = OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state_dict.items())
    own = set(teacher.state_dict().keys())
    if not has_part(own, TEACHER) and has_part(state_dict, TEACHER):
        # a PointDistiller checkpoint: take the teacher it was trained with
        state_dict._metadata = metadata
        state_dict = sub_state_dict(state_dict, TEACHER)
        metadata = state_dict._metadata
        print_log(f'PointDistillerDetector: teacher_ckpt {filename} is a PointDistiller '
                  f'checkpoint; loading its teacher.* weights', logger='current')
    state_dict._metadata = metadata  # spconv weight layout versions live here
    missing = sorted(own - set(state_dict))
    unexpected = sorted(set(state_dict) - own)
    if missing or unexpected:
        msg = (f'teacher_ckpt {filename} does not fit the teacher '
               f'({type(teacher).__name__}): {len(missing)} missing keys '
               f'{_abbrev(missing)}, {len(unexpected)} unexpected keys '
               f'{_abbrev(unexpected)}. Is it a checkpoint of the teacher config?')
        print_log(msg, logger='current', level=logging.ERROR)
        raise ValueError(msg)
    try:
        teacher.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        msg = (f'teacher_ckpt {filename} does not fit the teacher '
               f'({type(teacher).__name__}): {exc}')
        print_log(msg, logger='current', level=logging.ERROR)
        raise ValueError(msg) from exc
    # runner.init_weights() must not overwrite the loaded weights (as in MMRazor)
    teacher._is_init = True
    print_log(f'PointDistillerDetector: loaded teacher {type(teacher).__name__} '
              f'from {filename} ({len(state_dict)} tensors, 0 missing, 0 unexpected)',
              logger='current')


def freeze_teacher(teacher: nn.Module, prefix: str = 'teacher.') -> List[str]:
    """Freeze ``teacher`` (no gradients, ``eval()``); return its DDP-ignored names.

    DistributedDataParallel (mmengine's MMDistributedDataParallel wraps the whole distiller)
    leaves frozen parameters out of its gradient buckets, but at wrap time it still
    broadcasts every parameter and buffer from rank 0. Every rank loads the same teacher
    checkpoint, so the teacher is left out of DDP entirely: the returned names (``prefix`` +
    every parameter and buffer name) are meant for torch's documented
    ``_ddp_params_and_buffers_to_ignore`` attribute of the wrapped model (never broadcast,
    never reduced).
    """
    for p in teacher.parameters():
        p.requires_grad_(False)
    teacher.eval()
    return [f'{prefix}{name}' for name, _ in
            list(teacher.named_parameters()) + list(teacher.named_buffers())]


def teacher_takes_metas(extract_feat: Callable) -> bool:
    """Whether ``extract_feat`` needs ``batch_input_metas`` (e.g. MVX detectors)."""
    params = [p for p in inspect.signature(extract_feat).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(params) >= 2 and params[1].default is inspect.Parameter.empty


def check_distiller_state_dict(module: nn.Module, state_dict: dict, prefix: str,
                               *args: Any) -> None:
    """Load-state-dict pre-hook: a checkpoint must restore the whole distiller.

    mmengine loads ``--resume`` and ``load_from`` checkpoints with ``strict=False`` and only
    warns about missing keys, which would silently continue a run with the teacher from
    ``teacher_ckpt`` and freshly initialised adapters (or, for a plain detector checkpoint,
    with nothing loaded at all). Every key of the distiller's own state dict (``student.*``,
    ``teacher.*``, ``distill_losses.*``; BN ``num_batches_tracked`` excepted) must be in the
    checkpoint. Teacher weights that differ from the ones loaded from ``teacher_ckpt`` are
    reported: the checkpoint's teacher (the one the run was trained with) wins.

    Args:
        module (PointDistillerDetector): the distiller being loaded.
        state_dict (dict): the checkpoint's state dict, keys starting with ``prefix``.
        prefix (str): the distiller's key prefix within ``state_dict``.

    Raises:
        ValueError: listing the missing keys per group.
    """
    given = {k[len(prefix):] for k in state_dict if k.startswith(prefix)}
    own = module.state_dict()
    missing = [k for k in own if k not in given and not k.endswith('num_batches_tracked')]
    if missing:
        groups = OrderedDict()
        for key in missing:
            groups.setdefault(key.split('.')[0], []).append(key)
        counted = [k for k in own if not k.endswith('num_batches_tracked')]
        detail = '; '.join(f'{len(keys)} of {sum(k.startswith(g + ".") for k in counted)} '
                           f'{g}.* keys, e.g. {_abbrev(keys, 3)}' for g, keys in groups.items())
        raise ValueError(
            f'the checkpoint does not restore this PointDistillerDetector: missing {detail}. '
            f'Distillation checkpoints carry the student, the frozen teacher and the KD '
            f'adapters; this one was written by another model (an exported or plain student, '
            f'a distill=False run, other taps?). To start only the student from other weights '
            f"use model.student.init_cfg=dict(type='Pretrained', checkpoint=...) instead of "
            f'--resume/load_from.')
    teacher = getattr(module, 'teacher', None)
    if teacher is not None:
        changed = [k for k, v in teacher.state_dict().items()
                   if f'{prefix}teacher.{k}' in state_dict
                   and not torch.equal(state_dict[f'{prefix}teacher.{k}'].to(v.device), v)]
        if changed:
            print_log(f'PointDistillerDetector: the checkpoint\'s teacher differs from '
                      f'teacher_ckpt {module.teacher_ckpt} in {len(changed)} tensors (e.g. '
                      f'{changed[0]}); using the checkpoint\'s teacher, the one this run was '
                      f'trained with', logger='current', level=logging.WARNING)
