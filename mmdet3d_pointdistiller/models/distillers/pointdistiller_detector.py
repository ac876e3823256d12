"""``PointDistillerDetector``: a frozen teacher + a trainable student + PointDistiller losses.

Data flow of one training step (``loss()``):

1. The distiller's data preprocessor (the student's ``Det3DDataPreprocessor``) runs once;
   teacher and student see the very same voxels / points. Build time asserts that the
   teacher's preprocessing settings are identical to the student's.
2. Teacher (``eval()``, ``requires_grad=False``, ``torch.no_grad()``): ``extract_feat`` runs
   only until every tapped teacher module has produced its output (a forward hook raises
   a private exception, see :mod:`.feature_recorder`).
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
from .feature_recorder import (ModuleOutputRecorder, infer_out_channels, resolve_submodule,
                               select_output)

__all__ = ['PointDistillerDetector', 'DistillTap', 'load_teacher_config']

_TAP_KEYS = {'name', 'module', 'student_module', 'teacher_module', 'output', 'loss'}
# the channel axis and number of dimensions of each feature layout
_LAYOUT_NDIM = {'voxel': 2, 'bev': 4, 'point': 3}


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
    """
    index: int
    name: str
    student_module: str
    teacher_module: str
    output: Optional[Union[int, str]]
    loss: dict

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
    loss=dict(type='PointDistillerLoss', ...))``.
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
        taps.append(DistillTap(i, name, s_mod, t_mod, output, loss))
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

        if not self.distill:
            self.teacher = None
            self.taps = []
            self.distill_losses = ModuleDict()
            print_log('PointDistillerDetector: distill=False, training the student alone '
                      '(no teacher built, no KD loss)', logger='current')
            return

        self.teacher = MODELS.build(teacher_cfg)
        self._load_teacher(teacher_ckpt)
        self._freeze_teacher()
        self._build_taps()
        self.distill_losses = ModuleDict(
            {tap.name: MODELS.build(copy.deepcopy(tap.loss)) for tap in self.taps})
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
        """Load ``filename`` into the teacher, refusing any key or shape mismatch."""
        ckpt = CheckpointLoader.load_checkpoint(filename, map_location='cpu')
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
        state_dict._metadata = metadata  # spconv weight layout versions live here
        own = set(self.teacher.state_dict().keys())
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
        self._teacher_recorder = ModuleOutputRecorder(self.teacher, t_paths,
                                                      stop_when_complete=True)
        self._student_recorder = ModuleOutputRecorder(self.student, s_paths)
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
        """Run the teacher up to its deepest tapped module; return the raw hook outputs."""
        with self._teacher_recorder.recording() as buf:
            if self._teacher_takes_metas:
                metas = [s.metainfo for s in batch_data_samples]
                self.teacher.extract_feat(batch_inputs_dict, metas)
            else:
                self.teacher.extract_feat(batch_inputs_dict)
        missing = self._teacher_recorder.missing_in(buf)
        if missing:
            raise RuntimeError(f'teacher.extract_feat never ran the tapped module(s) {missing}; '
                               f'tap only modules used by extract_feat (backbone/neck/encoders)')
        return dict(buf)

    def loss(self, batch_inputs_dict: dict, batch_data_samples: SampleList,
             **kwargs) -> Dict[str, Tensor]:
        """Student detection losses (``loss_*`` keys unchanged) + ``loss_pd_<tap>`` terms.

        Args:
            batch_inputs_dict (dict): preprocessed inputs (``points`` list, and for voxel
                detectors ``voxels`` = dict(voxels (M, T, C), coors (M, 4) with the batch
                index first, num_points (M,))).
            batch_data_samples (list[Det3DDataSample]): ground truth.
        """
        if not self.distill:
            return self.student.loss(batch_inputs_dict, batch_data_samples, **kwargs)
        try:
            teacher_out = self._teacher_features(batch_inputs_dict, batch_data_samples)
            with self._student_recorder.recording() as buf:
                losses = self.student.loss(batch_inputs_dict, batch_data_samples, **kwargs)
            student_out = dict(buf)
        finally:
            self._teacher_recorder.clear()
            self._student_recorder.clear()
        missing = self._student_recorder.missing_in(student_out)
        if missing:
            raise RuntimeError(f'student.loss never ran the tapped module(s) {missing}')
        for tap in self.taps:
            if tap.loss_key in losses:
                raise KeyError(f'{tap.key}: the student already returns a loss named '
                               f'{tap.loss_key!r}; rename the tap')
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

    def _tap_loss(self, tap: DistillTap, t_feat: Tensor, s_feat: Tensor,
                  batch_inputs_dict: dict) -> Tensor:
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
        if not bool(torch.isfinite(t_feat).all()):
            return self._skip(tap, loss_module, 'teacher feature contains NaN/Inf', s_feat)
        value = loss_module(t_feat, s_feat, **kwargs)
        if not bool(torch.isfinite(value).all()):
            return self._skip(tap, loss_module, f'KD loss is {value.detach().cpu().item()}',
                              s_feat)
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
                                f'model.teacher_ckpt to the teacher checkpoint)')


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return '[' + ','.join(_fmt(v) for v in value) + ']'
    return str(value)


def _abbrev(keys: List[str], limit: int = 8) -> str:
    if len(keys) <= limit:
        return str(keys)
    return str(keys[:limit])[:-1] + f', ... {len(keys) - limit} more]'
