"""``PointDistillerDetector``: a frozen teacher + a trainable student + PointDistiller losses.

Data flow of one training step (``loss()``):

1. The distiller's data preprocessor (the student's ``Det3DDataPreprocessor``) runs once;
   teacher and student see the very same voxels / points. Build time asserts that the
   teacher's preprocessing settings are identical to the student's.
2. Teacher (``eval()``, ``requires_grad=False``, ``torch.no_grad()``): ``extract_feat`` runs
   only until every tapped teacher module has produced its output (a forward hook raises
   a private exception, see :mod:`.feature_recorder`). When a tap names a module outside
   ``extract_feat`` (a top-level ``*head`` such as ``bbox_head``), the teacher runs
   ``_forward`` (extract_feat + head forward, tensor mode) instead; a ``'head'``-layout tap
   receives the raw head outputs that ``_forward`` returns (e.g. ``(cls_scores, bbox_preds,
   dir_cls_preds)``, lists over levels).
3. Student: its own ``loss()``; its ``loss_*`` keys are returned unchanged while forward
   hooks record the tapped student features.
4. For each tap, a :class:`PointDistillerLoss` (held in ``self.distill_losses``, together
   with its teacher/student adapters) gives ``loss_pd_<tap name>``.

``predict()`` / ``_forward()`` run the student only. Parameter names are ``student.*``,
``teacher.*`` and ``distill_losses.*``; the teacher's weights are part of every checkpoint
(a resumed run is self-contained); ``tools/export_student.py`` turns such a checkpoint
into a plain student checkpoint.
"""
from __future__ import annotations

import copy
import inspect
import logging
import os.path as osp
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.model import ModuleDict
from mmengine.runner.checkpoint import CheckpointLoader
from torch import Tensor, nn

from mmdet3d.models.detectors import Base3DDetector
from mmdet3d.registry import MODELS
from mmdet3d.structures.det3d_data_sample import OptSampleList, SampleList
from ...compat.checkpoint import UnsafeCheckpointError
from .feature_recorder import (ModuleOutputRecorder, infer_out_channels, resolve_submodule,
                               select_output)

__all__ = ['PointDistillerDetector', 'DistillTap', 'load_teacher_config']

_TAP_KEYS = {'name', 'module', 'student_module', 'teacher_module', 'output', 'loss',
             'clone_output'}
# the number of dimensions of each feature layout ('head': raw head outputs, a tuple)
_LAYOUT_NDIM = {'voxel': 2, 'bev': 4, 'point': 3, 'head': None}


def _to_plain(obj: Any) -> Any:
    """ConfigDict/tuple-free copy of a config value (for comparisons and messages)."""
    if isinstance(obj, (dict, ConfigDict)):
        return {k: _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_plain(v) for v in obj]
    return obj


def _config_diff(a: Any, b: Any, prefix: str = '') -> List[Tuple[str, Any, Any]]:
    """Recursive differences between two config values as ``(dotted key, a, b)``."""
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
    if '::' in cfg_path:
        from mmengine.hub import get_config
        cfg = get_config(cfg_path)
    else:
        if not osp.isfile(cfg_path):
            raise FileNotFoundError(f'teacher.cfg_path={cfg_path!r} is not a file')
        cfg = Config.fromfile(cfg_path)
    if 'model' not in cfg:
        raise KeyError(f'teacher.cfg_path={cfg_path!r} has no `model` field')
    return ConfigDict(copy.deepcopy(cfg.model))


@dataclass
class DistillTap:
    """One distilled feature pair, parsed from an entry of ``distill_cfg``.

    Attributes:
        index (int): position in ``distill_cfg`` (for messages).
        name (str): tap name; the loss key is ``loss_pd_<name>``.
        student_module / teacher_module (str): dotted submodule paths.
        output (None | int | str): element selected from the module output.
        loss (dict): config of the loss module (e.g. ``PointDistillerLoss``).
        clone_output (bool): record the module's output and let the model continue with a
            copy, so a following in-place op (SECOND's ``ReLU(inplace=True)`` after a tapped
            BatchNorm, i.e. a pre-ReLU tap) cannot overwrite the recorded feature.
    """
    index: int
    name: str
    student_module: str
    teacher_module: str
    output: Optional[Union[int, str]]
    loss: dict
    clone_output: bool = False

    @property
    def key(self) -> str:
        return f'distill_cfg[{self.index}]'

    @property
    def layout(self) -> str:
        return self.loss.get('feature_layout', 'voxel')

    @property
    def loss_key(self) -> str:
        return f'loss_pd_{self.name}'


def parse_distill_cfg(distill_cfg: Union[None, dict, Sequence[dict]]) -> List[DistillTap]:
    """Parse and validate ``distill_cfg`` into :class:`DistillTap` s.

    ``distill_cfg`` is a list of tap specs, a single tap spec (a dict with ``module``), or a
    dict ``{name: spec}``. A spec is
    ``dict(name=..., module=..., [student_module=..., teacher_module=...], output=None|int|str,
    loss=dict(type='PointDistillerLoss', ...), [clone_output=False])``.
    """
    if distill_cfg is None:
        return []
    if isinstance(distill_cfg, (dict, ConfigDict)):
        if {'module', 'loss', 'student_module', 'teacher_module'} & set(distill_cfg):
            specs = [distill_cfg]
        else:
            specs = []
            for name, spec in distill_cfg.items():
                spec = dict(spec)
                if 'name' in spec and spec['name'] != name:
                    raise ValueError(f'distill_cfg[{name!r}].name={spec["name"]!r} differs '
                                     f'from its key {name!r}')
                spec['name'] = name
                specs.append(spec)
    elif isinstance(distill_cfg, (list, tuple)):
        specs = list(distill_cfg)
    else:
        raise TypeError(f'distill_cfg must be a list of tap dicts or a dict, '
                        f'got {type(distill_cfg).__name__}')
    taps: List[DistillTap] = []
    for i, spec in enumerate(specs):
        key = f'distill_cfg[{i}]'
        if not isinstance(spec, (dict, ConfigDict)):
            raise TypeError(f'{key} must be a dict, got {type(spec).__name__}')
        unknown = set(spec) - _TAP_KEYS
        if unknown:
            raise KeyError(f'{key} has unknown keys {sorted(unknown)}; allowed: '
                           f'{sorted(_TAP_KEYS)}')
        name = spec.get('name')
        if not isinstance(name, str) or not re.fullmatch(r'[A-Za-z0-9_]+', name):
            raise ValueError(f'{key}.name must be a non-empty string of letters, digits and '
                             f'underscores (it becomes the loss key loss_pd_<name>), '
                             f'got {name!r}')
        if any(t.name == name for t in taps):
            raise ValueError(f'{key}.name={name!r} is used by another tap')
        module = spec.get('module')
        s_mod = spec.get('student_module', module)
        t_mod = spec.get('teacher_module', module)
        if s_mod is None or t_mod is None:
            raise KeyError(f"{key} needs 'module' (or both 'student_module' and "
                           f"'teacher_module')")
        loss = spec.get('loss')
        if not isinstance(loss, (dict, ConfigDict)) or 'type' not in loss:
            raise KeyError(f"{key}.loss must be a loss config dict with 'type', got {loss!r}")
        loss = _to_plain(loss)
        layout = loss.get('feature_layout', 'voxel')
        if layout not in _LAYOUT_NDIM:
            raise ValueError(f'{key}.loss.feature_layout={layout!r} is not one of '
                             f'{sorted(_LAYOUT_NDIM)}')
        output = spec.get('output')
        if output is not None and (isinstance(output, bool)
                                   or not isinstance(output, (int, str))):
            raise TypeError(f'{key}.output must be None, an int or a str, got {output!r}')
        if layout == 'head':
            if output is not None:
                raise ValueError(f"{key}.output must be None for feature_layout='head' (the "
                                 f'loss receives the whole head output tuple), got {output!r}')
            if '.' in t_mod or not t_mod.endswith('head'):
                raise ValueError(f"{key}: feature_layout='head' taps the detector's head, a "
                                 f"top-level module whose name ends in 'head' (e.g. "
                                 f"'bbox_head'), got teacher module {t_mod!r}")
        clone_output = spec.get('clone_output', False)
        if not isinstance(clone_output, bool):
            raise TypeError(f'{key}.clone_output must be a bool, got {clone_output!r}')
        taps.append(DistillTap(i, name, s_mod, t_mod, output, loss, clone_output))
    return taps


@MODELS.register_module()
class PointDistillerDetector(Base3DDetector):
    """PointDistiller knowledge distillation around any mmdet3d 1.x detector.

    Args:
        student (dict): config of the student detector (a full mmdet3d detector config,
            e.g. a width-reduced ``VoxelNet``).
        teacher (dict, optional): the teacher detector config, or
            ``dict(cfg_path='mmdet3d::pointpillars/...py')`` meaning that config's ``model``.
            Required when ``distill=True``.
        teacher_ckpt (str, optional): teacher checkpoint (local path or URL), loaded at
            build time; any missing/unexpected key or shape mismatch is refused. Required
            when ``distill=True``.
        distill_cfg (list[dict] | dict): feature taps, see :func:`parse_distill_cfg`.
        distill (bool): ``False`` trains the student alone through the same code path
            (no teacher is built, no KD loss): the student-only baseline.
        teacher_norm_eval (bool): keep the whole teacher in ``eval()`` mode (BN uses and
            keeps its running statistics). ``False`` lets the teacher follow the
            distiller's mode like the released PointDistiller code (teacher BN in train
            mode, batch statistics, drifting running statistics). Defaults to True.
        data_preprocessor (dict, optional): defaults to the student's
            ``data_preprocessor``.
        init_cfg (dict, optional): initialisation config of the distiller itself.
    """

    def __init__(self,
                 student: dict,
                 teacher: Optional[dict] = None,
                 teacher_ckpt: Optional[str] = None,
                 distill_cfg: Union[None, dict, Sequence[dict]] = None,
                 distill: bool = True,
                 teacher_norm_eval: bool = True,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if not isinstance(student, (dict, ConfigDict)) or 'type' not in student:
            raise TypeError("student must be a detector config dict with 'type'")
        student = ConfigDict(copy.deepcopy(student))
        if data_preprocessor is None:
            data_preprocessor = copy.deepcopy(student.get('data_preprocessor'))
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self._preprocessor_cfg = _to_plain(data_preprocessor)
        self.distill = bool(distill)
        self.teacher_norm_eval = bool(teacher_norm_eval)
        self.teacher_ckpt = teacher_ckpt

        if self.distill:
            # cheap checks first, before anything is built
            self.taps = parse_distill_cfg(distill_cfg)
            if not self.taps:
                raise ValueError('distill=True needs at least one tap in distill_cfg')
            if teacher is None:
                raise ValueError('distill=True needs a teacher config (model.teacher)')
            teacher_cfg = load_teacher_config(teacher)
            self._check_preprocessing(teacher_cfg, student)
            _check_ckpt_path(teacher_ckpt)

        self.student = MODELS.build(student)
        # --resume / load_from: refuse a checkpoint that would leave part of the distiller
        # (student, teacher, adapters) as built instead of restored
        self.register_load_state_dict_pre_hook(_check_distiller_state_dict)

        if not self.distill:
            self.teacher = None
            self.taps = []
            self.distill_losses = ModuleDict()
            print_log('PointDistillerDetector: distill=False, training the student alone '
                      '(no teacher built, no KD loss)', logger='current')
            return

        # Paired runs: building the teacher and the adapters draws from torch's global RNG;
        # restoring the state drawn up to here makes ``init_weights`` (student first) and
        # everything after it see the RNG stream of a student-only run with the same seed,
        # so a distilled run and its student-only twin start from the same student weights.
        rng_state = torch.random.get_rng_state()
        self.teacher = MODELS.build(teacher_cfg)
        self._load_teacher(teacher_ckpt)
        self._freeze_teacher()
        self._build_taps()
        self.distill_losses = ModuleDict(
            {tap.name: MODELS.build(copy.deepcopy(tap.loss)) for tap in self.taps})
        torch.random.set_rng_state(rng_state)
        self._bind_loss_modules()
        self._teacher_takes_metas = _takes_metas(self.teacher.extract_feat)
        self._log_summary()

    # ------------------------------------------------------------------ build helpers
    def _check_preprocessing(self, teacher_cfg: dict, student_cfg: dict) -> None:
        """The teacher must preprocess exactly like the distiller (= the student).

        Raises:
            ValueError: naming every differing ``data_preprocessor`` field.
        """
        used = self._preprocessor_cfg
        student_pp = _to_plain(student_cfg.get('data_preprocessor'))
        own = 'student' if not _config_diff(student_pp, used) else 'distiller'
        teacher_pp = _to_plain(teacher_cfg.get('data_preprocessor'))
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

    def _load_teacher(self, filename: str) -> None:
        """Load ``filename`` into the teacher, refusing any key or shape mismatch.

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
        own = set(self.teacher.state_dict().keys())
        if not any(k.startswith('teacher.') for k in own) and any(
                k.startswith('teacher.') for k in state_dict):
            # a PointDistiller checkpoint: take the teacher it was trained with
            state_dict = OrderedDict((k[len('teacher.'):], v) for k, v in state_dict.items()
                                     if k.startswith('teacher.'))
            metadata = OrderedDict((k[len('teacher.'):], v) for k, v in metadata.items()
                                   if k == 'teacher' or k.startswith('teacher.'))
            print_log(f'PointDistillerDetector: teacher_ckpt {filename} is a PointDistiller '
                      f'checkpoint; loading its teacher.* weights', logger='current')
        state_dict._metadata = metadata  # spconv weight layout versions live here
        missing = sorted(own - set(state_dict))
        unexpected = sorted(set(state_dict) - own)
        if missing or unexpected:
            msg = (f'teacher_ckpt {filename} does not fit the teacher '
                   f'({type(self.teacher).__name__}): {len(missing)} missing keys '
                   f'{_abbrev(missing)}, {len(unexpected)} unexpected keys '
                   f'{_abbrev(unexpected)}. Is it a checkpoint of the teacher config?')
            print_log(msg, logger='current', level=logging.ERROR)
            raise ValueError(msg)
        try:
            self.teacher.load_state_dict(state_dict, strict=True)
        except RuntimeError as exc:
            msg = (f'teacher_ckpt {filename} does not fit the teacher '
                   f'({type(self.teacher).__name__}): {exc}')
            print_log(msg, logger='current', level=logging.ERROR)
            raise ValueError(msg) from exc
        # runner.init_weights() must not overwrite the loaded weights (as in MMRazor)
        self.teacher._is_init = True
        print_log(f'PointDistillerDetector: loaded teacher {type(self.teacher).__name__} '
                  f'from {filename} ({len(state_dict)} tensors, 0 missing, 0 unexpected)',
                  logger='current')

    def _freeze_teacher(self) -> None:
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.teacher.eval()
        # DistributedDataParallel (mmengine's MMDistributedDataParallel wraps the whole
        # distiller) leaves frozen parameters out of its gradient buckets, but at wrap time it
        # still broadcasts every parameter and buffer from rank 0. Every rank loads the same
        # teacher checkpoint, so the teacher is left out of DDP entirely (torch's documented
        # `_ddp_params_and_buffers_to_ignore` attribute): never broadcast, never reduced.
        self._ddp_params_and_buffers_to_ignore = [
            f'teacher.{name}' for name, _ in
            list(self.teacher.named_parameters()) + list(self.teacher.named_buffers())]

    def _build_taps(self) -> None:
        """Hook the tapped modules and check channel widths where they are known."""
        t_paths: Dict[str, str] = {}
        s_paths: Dict[str, str] = {}
        for tap in self.taps:
            mkey = 'module' if tap.teacher_module == tap.student_module else None
            t_paths.setdefault(tap.teacher_module,
                               f"{tap.key}.{mkey or 'teacher_module'} (tap {tap.name!r}, teacher)")
            s_paths.setdefault(tap.student_module,
                               f"{tap.key}.{mkey or 'student_module'} (tap {tap.name!r}, student)")
        # resolve everything first so that a bad name fails before any hook is added
        for path, where in t_paths.items():
            resolve_submodule(self.teacher, path, where)
        for path, where in s_paths.items():
            resolve_submodule(self.student, path, where)
        # 'head' taps read the teacher's head outputs from the value `_forward` returns
        # (it calls `bbox_head.forward` directly, so no hook fires); the teacher then runs to
        # its end instead of stopping at the deepest hooked module
        head_paths = {tap.teacher_module for tap in self.taps if tap.layout == 'head'}
        self._teacher_head_paths = sorted(head_paths)
        self._teacher_runs_head = any(
            tap.teacher_module.split('.')[0].endswith('head') for tap in self.taps)
        t_hooked = {p: w for p, w in t_paths.items() if p not in head_paths}
        self._teacher_recorder = ModuleOutputRecorder(
            self.teacher, t_hooked, stop_when_complete=not head_paths,
            clone_paths={t.teacher_module for t in self.taps
                         if t.clone_output and t.teacher_module in t_hooked})
        self._student_recorder = ModuleOutputRecorder(
            self.student, s_paths,
            clone_paths={t.student_module for t in self.taps if t.clone_output})
        for tap in self.taps:
            for who, model, path in (('teacher', self.teacher, tap.teacher_module),
                                     ('student', self.student, tap.student_module)):
                expected = tap.loss.get(f'{who}_channels')
                if expected is None:
                    continue
                module = model.get_submodule(path)
                actual = infer_out_channels(module, tap.output)
                if actual is not None and actual != expected:
                    raise ValueError(
                        f'{tap.key}.loss.{who}_channels={expected} does not match the '
                        f'{who}: module {path!r} ({type(module).__name__}, output='
                        f'{tap.output!r}) outputs {actual} channels')

    def _bind_loss_modules(self) -> None:
        """Check each loss module's layout; hand it the tapped teacher module if it asks.

        A loss module may define ``bind_teacher_module(module, where)``; it is called once,
        after the teacher weights are loaded, with the tapped teacher submodule (e.g. the
        BatchNorm whose affine parameters give the overhaul distillation's margins, or the
        head whose anchor generator and box coder decode the teacher's predictions). The
        module must not keep a reference to an ``nn.Module`` of the teacher (its parameters
        would be registered twice).
        """
        for tap in self.taps:
            loss_module = self.distill_losses[tap.name]
            layout = getattr(loss_module, 'feature_layout', None)
            if layout is not None and layout != tap.layout:
                raise ValueError(
                    f'{tap.key}.loss.feature_layout={tap.layout!r} (the distiller\'s default '
                    f"is 'voxel' when unset) but {type(loss_module).__name__} works on "
                    f'{layout!r}; set {tap.key}.loss.feature_layout={layout!r}')
            bind = getattr(loss_module, 'bind_teacher_module', None)
            if callable(bind):
                bind(self.teacher.get_submodule(tap.teacher_module),
                     where=f'{tap.key} (teacher.{tap.teacher_module})')
            if any(m is sub for m in loss_module.modules() for sub in self.teacher.modules()):
                raise RuntimeError(f'{tap.key}: {type(loss_module).__name__} holds a teacher '
                                   f'module; keep only tensors/plain objects')

    def _log_summary(self) -> None:
        lines = [f'PointDistillerDetector: teacher {type(self.teacher).__name__} '
                 f'(frozen, {"eval" if self.teacher_norm_eval else "follows train()"}), '
                 f'student {type(self.student).__name__}, {len(self.taps)} tap(s):']
        for tap in self.taps:
            lines.append(f'  {tap.loss_key}: teacher.{tap.teacher_module} / '
                         f'student.{tap.student_module} output={tap.output!r} '
                         f'loss={tap.loss}')
        print_log('\n'.join(lines), logger='current')

    # ------------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> 'PointDistillerDetector':
        """Set train/eval mode; the teacher stays in eval mode if ``teacher_norm_eval``."""
        super().train(mode)
        if self.teacher is not None and self.teacher_norm_eval:
            self.teacher.eval()
        return self

    # ------------------------------------------------------------------ forward paths
    def extract_feat(self, *args, **kwargs) -> Any:
        """The student's ``extract_feat``."""
        return self.student.extract_feat(*args, **kwargs)

    def predict(self, batch_inputs_dict: dict, batch_data_samples: SampleList,
                **kwargs) -> SampleList:
        """Student-only prediction (the teacher is not run)."""
        return self.student.predict(batch_inputs_dict, batch_data_samples, **kwargs)

    def _forward(self, batch_inputs_dict: dict, data_samples: OptSampleList = None,
                 **kwargs) -> Any:
        """Student-only tensor forward."""
        return self.student._forward(batch_inputs_dict, data_samples, **kwargs)

    @torch.no_grad()
    def _teacher_features(self, batch_inputs_dict: dict,
                          batch_data_samples: SampleList) -> Dict[str, Any]:
        """Run the teacher up to its deepest tapped module; return the raw hook outputs.

        The teacher runs on its own copy of the inputs: mmdet3d encoders may write into them
        (``PillarFeatureNet(legacy=True)``, the default, overwrites the x/y of
        ``voxels['voxels']`` with the pillar-centre offsets), and the student must see the
        inputs a plain student sees.
        """
        batch_inputs_dict = _clone_tensors(batch_inputs_dict)
        head_out = None
        with self._teacher_recorder.recording() as buf:
            if self._teacher_runs_head:
                head_out = self.teacher._forward(batch_inputs_dict, batch_data_samples)
            elif self._teacher_takes_metas:
                metas = [s.metainfo for s in batch_data_samples]
                self.teacher.extract_feat(batch_inputs_dict, metas)
            else:
                self.teacher.extract_feat(batch_inputs_dict)
        missing = self._teacher_recorder.missing_in(buf)
        if missing:
            ran = '_forward' if self._teacher_runs_head else 'extract_feat'
            raise RuntimeError(f'teacher.{ran} never ran the tapped module(s) {missing}; '
                               f'tap only modules used by extract_feat (backbone/neck/encoders) '
                               f'or the head')
        out = dict(buf)
        for path in self._teacher_head_paths:
            if head_out is None:
                raise RuntimeError(f'teacher._forward returned None; the head tap {path!r} '
                                   f'needs its raw head outputs')
            out[path] = head_out
        return out

    def loss(self, batch_inputs_dict: dict, batch_data_samples: SampleList,
             **kwargs) -> Dict[str, Tensor]:
        """Student detection losses (``loss_*`` keys unchanged) + ``loss_pd_<tap>`` terms.

        Args:
            batch_inputs_dict (dict): preprocessed inputs (``points`` list, and for voxel
                detectors ``voxels`` = dict(voxels (M, T, C), coors (M, 4) with the batch
                index first, num_points (M,))).
            batch_data_samples (list[Det3DDataSample]): ground truth.

        A sample without points (or, for voxel detectors, without voxels) is dropped from the
        batch with a warning naming it (see :func:`_drop_empty_samples`).
        """
        batch_inputs_dict, batch_data_samples = _drop_empty_samples(batch_inputs_dict,
                                                                    batch_data_samples)
        if not self.distill:
            return self.student.loss(batch_inputs_dict, batch_data_samples, **kwargs)
        try:
            teacher_out = self._teacher_features(batch_inputs_dict, batch_data_samples)
            with self._student_recorder.recording() as buf:
                losses = self.student.loss(batch_inputs_dict, batch_data_samples, **kwargs)
            student_out = dict(buf)
            modified = {('teacher', p) for p in teacher_out
                        if self._teacher_recorder.changed_in_place(teacher_out, p)}
            modified |= {('student', p) for p in student_out
                         if self._student_recorder.changed_in_place(student_out, p)}
        finally:
            self._teacher_recorder.clear()
            self._student_recorder.clear()
        missing = self._student_recorder.missing_in(student_out)
        if missing:
            raise RuntimeError(f'student.loss never ran the tapped module(s) {missing}')
        for tap in self.taps:
            for who, path in (('teacher', tap.teacher_module), ('student', tap.student_module)):
                if (who, path) in modified:
                    raise RuntimeError(
                        f'{tap.key}: the output of {who}.{path} was modified in place after '
                        f'it was recorded (e.g. by a following ReLU(inplace=True)); set '
                        f'{tap.key}.clone_output=True to record it before such ops')
        for tap in self.taps:
            if tap.loss_key in losses:
                raise KeyError(f'{tap.key}: the student already returns a loss named '
                               f'{tap.loss_key!r}; rename the tap')
            if tap.layout == 'head':
                t_feat = _check_head_output(teacher_out[tap.teacher_module],
                                            f'{tap.key} (teacher.{tap.teacher_module})')
                s_feat = _check_head_output(student_out[tap.student_module],
                                            f'{tap.key} (student.{tap.student_module})')
                if len(t_feat) != len(s_feat):
                    raise ValueError(f'{tap.key}: the teacher head returns {len(t_feat)} '
                                     f'outputs, the student head {len(s_feat)}')
            else:
                t_feat = select_output(teacher_out[tap.teacher_module], tap.output,
                                       f'{tap.key}.output (teacher.{tap.teacher_module})')
                s_feat = select_output(student_out[tap.student_module], tap.output,
                                       f'{tap.key}.output (student.{tap.student_module})')
                self._check_feature(tap, 'teacher', t_feat)
                self._check_feature(tap, 'student', s_feat)
            losses[tap.loss_key] = self._tap_loss(tap, t_feat, s_feat, batch_inputs_dict)
        return losses

    def _check_feature(self, tap: DistillTap, who: str, feat: Tensor) -> None:
        """Check a recorded feature against the tap's layout and channel config."""
        ndim = _LAYOUT_NDIM[tap.layout]
        if feat.dim() != ndim:
            raise ValueError(
                f'{tap.key}.loss.feature_layout={tap.layout!r} expects {ndim}-D features '
                f'but {who}.{getattr(tap, who + "_module")} gives shape {tuple(feat.shape)}')
        expected = tap.loss.get(f'{who}_channels')
        if expected is not None and feat.shape[1] != expected:
            raise ValueError(
                f'{tap.key}.loss.{who}_channels={expected} does not match the {who}: module '
                f'{getattr(tap, who + "_module")!r} (output={tap.output!r}) gives '
                f'{feat.shape[1]} channels, shape {tuple(feat.shape)}')

    def _tap_loss(self, tap: DistillTap, t_feat: Union[Tensor, tuple],
                  s_feat: Union[Tensor, tuple], batch_inputs_dict: dict) -> Tensor:
        """One tap's KD loss; a non-finite value is replaced by a graph-connected zero."""
        loss_module = self.distill_losses[tap.name]
        kwargs = {}
        if tap.layout == 'voxel':
            voxels = batch_inputs_dict.get('voxels')
            if not isinstance(voxels, dict) or 'coors' not in voxels:
                raise KeyError(f"{tap.key}.loss.feature_layout='voxel' needs the hard-voxel "
                               f"dict batch_inputs_dict['voxels'] (coors, num_points); the "
                               f"data preprocessor did not produce it")
            if voxels['coors'].shape[0] != t_feat.shape[0]:
                raise ValueError(f"{tap.key}: {t_feat.shape[0]} voxel features but "
                                 f"{voxels['coors'].shape[0]} voxels; tap the voxel encoder "
                                 f"output (one row per voxel) for the 'voxel' layout")
            kwargs['batch_idx'] = voxels['coors'][:, 0].long()
            if 'num_points' in voxels:
                kwargs['num_points'] = voxels['num_points']
        s_ref = _tensors(s_feat)[0]
        if not all(bool(torch.isfinite(t).all()) for t in _tensors(t_feat)):
            return self._skip(tap, loss_module, 'teacher feature contains NaN/Inf', s_ref)
        value = loss_module(t_feat, s_feat, **kwargs)
        if not bool(torch.isfinite(value).all()):
            return self._skip(tap, loss_module, f'KD loss is {value.detach().cpu().item()}',
                              s_ref)
        return value

    @staticmethod
    def _skip(tap: DistillTap, loss_module: nn.Module, why: str, ref: Tensor) -> Tensor:
        print_log(f'PointDistillerDetector: {why} for {tap.loss_key}; the KD term of this '
                  f'step is replaced by 0 (weights untouched)', logger='current',
                  level=logging.WARNING)
        params = [p for p in loss_module.parameters() if p.requires_grad]
        if not params:
            return ref.new_zeros(())
        # zero that is still connected to the adapters (DDP expects their gradients)
        return sum(p.reshape(-1)[0] * 0.0 for p in params)


def _tensors(feat: Any) -> List[Tensor]:
    """The Tensors of a feature: itself, or those of a (nested) head output tuple."""
    if isinstance(feat, Tensor):
        return [feat]
    if isinstance(feat, (tuple, list)):
        return [t for item in feat for t in _tensors(item)]
    return []


def _check_head_output(output: Any, where: str) -> tuple:
    """Validate raw head outputs: a tuple whose items are Tensors or lists of Tensors.

    Returns:
        tuple: the output, e.g. ``(cls_scores, bbox_preds, dir_cls_preds)`` of an
        ``Anchor3DHead``, each a list over feature levels of (B, A * X, H, W) maps.
    """
    if not isinstance(output, (tuple, list)) or not output:
        raise TypeError(f"{where}: feature_layout='head' expects the head to return a non-empty "
                        f'tuple of outputs, got {type(output).__name__}')
    for i, item in enumerate(output):
        if isinstance(item, (tuple, list)):
            for j in range(len(item)):
                if item[j] is not None:
                    select_output(item, j, f'{where} output[{i}]')
        elif item is not None:
            select_output(output, i, f'{where} output')
    if not _tensors(output):
        raise TypeError(f'{where}: the head output holds no Tensor')
    return tuple(output)


def _clone_tensors(obj: Any) -> Any:
    """Copy of ``obj`` in which every Tensor of nested dicts/lists/tuples is cloned."""
    if isinstance(obj, Tensor):
        return obj.clone()
    if isinstance(obj, dict):
        return {k: _clone_tensors(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_clone_tensors(v) for v in obj)
    return obj


def _describe_sample(sample: Any, index: int) -> str:
    meta = getattr(sample, 'metainfo', {}) or {}
    known = [f'{k}={meta[k]}' for k in ('sample_idx', 'lidar_path') if k in meta]
    return f'sample {index}' + (f' ({", ".join(known)})' if known else '')


def _drop_empty_samples(inputs: dict, samples: SampleList) -> Tuple[dict, SampleList]:
    """Remove the samples without points / voxels from a preprocessed batch.

    mmdet3d's voxel detectors take the batch size from the sample index of the last voxel, so
    an empty last sample shrinks the feature batch and fails much later with a shape
    mismatch inside the head's loss; an empty sample elsewhere trains the head on an all-zero
    feature map. Such samples are dropped (warning naming each one); a batch with no
    non-empty sample raises.

    Args:
        inputs (dict): ``points`` (list of (P_b, C) Tensors), optionally ``voxels`` (dict
            whose ``coors`` (M, 1 + D) start with the sample index) and other per-sample
            lists / (B, ...) Tensors (e.g. ``imgs``).
        samples (list[Det3DDataSample]): B data samples.

    Returns:
        tuple[dict, list]: the inputs (``coors`` sample indices renumbered) and samples of the
        non-empty samples; the same objects when no sample is empty.

    Raises:
        ValueError: if every sample is empty, naming them.
    """
    num = len(samples)
    voxels = inputs.get('voxels')
    points = inputs.get('points')
    if isinstance(voxels, dict) and isinstance(voxels.get('coors'), Tensor):
        what = 'voxels (no point inside the voxelization range)'
        counts = torch.bincount(voxels['coors'][:, 0].long(), minlength=num)[:num].tolist()
    elif isinstance(points, (list, tuple)) and len(points) == num:
        what = 'points'
        counts = [len(p) for p in points]
    else:
        return inputs, samples
    if all(counts):
        return inputs, samples
    empty = '; '.join(_describe_sample(samples[i], i) for i, c in enumerate(counts) if c == 0)
    keep = [i for i, c in enumerate(counts) if c > 0]
    if not keep:
        raise ValueError(f'every sample of the batch has no {what}: {empty}. Check the point '
                         f'files and the PointsRangeFilter / voxel_layer.point_cloud_range')
    print_log(f'PointDistillerDetector: dropped from this training batch, without {what}: '
              f'{empty}', logger='current', level=logging.WARNING)
    out = dict(inputs)
    for key, value in inputs.items():
        if key == 'voxels' and isinstance(value, dict) and 'coors' in value:
            renumber = torch.full((num, ), -1, dtype=torch.long, device=value['coors'].device)
            renumber[keep] = torch.arange(len(keep), device=renumber.device)
            coors = value['coors'].clone()
            coors[:, 0] = renumber[coors[:, 0].long()].to(coors.dtype)
            out[key] = dict(value, coors=coors)
        elif isinstance(value, (list, tuple)) and len(value) == num:
            out[key] = [value[i] for i in keep]
        elif isinstance(value, Tensor) and value.dim() > 0 and value.shape[0] == num:
            out[key] = value[keep]
    return out, [samples[i] for i in keep]


def _takes_metas(fn) -> bool:
    """Whether ``extract_feat`` needs ``batch_input_metas`` (e.g. MVX detectors)."""
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(params) >= 2 and params[1].default is inspect.Parameter.empty


def _check_ckpt_path(teacher_ckpt: Optional[str]) -> None:
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


def _check_distiller_state_dict(module: 'PointDistillerDetector', state_dict: dict,
                                prefix: str, *args) -> None:
    """Load-state-dict pre-hook: a checkpoint must restore the whole distiller.

    mmengine loads ``--resume`` and ``load_from`` checkpoints with ``strict=False`` and only
    warns about missing keys, which would silently continue a run with the teacher from
    ``teacher_ckpt`` and freshly initialised adapters (or, for a plain detector checkpoint,
    with nothing loaded at all). Every key of the distiller's own state dict (``student.*``,
    ``teacher.*``, ``distill_losses.*``; BN ``num_batches_tracked`` excepted) must be in the
    checkpoint. Teacher weights that differ from the ones loaded from ``teacher_ckpt`` are
    reported: the checkpoint's teacher (the one the run was trained with) wins.

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


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return '[' + ','.join(_fmt(v) for v in value) + ']'
    return str(value)


def _abbrev(keys: List[str], limit: int = 8) -> str:
    if len(keys) <= limit:
        return str(keys)
    return str(keys[:limit])[:-1] + f', ... {len(keys) - limit} more]'
