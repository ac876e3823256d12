"""Distillation taps: parse ``distill_cfg``, then select and check each tap's features.

A :class:`DistillTap` is one teacher/student feature pair and its loss. It knows

* where its features come from: the dotted teacher/student submodule paths, recorded by
  :class:`~.feature_recorder.ModuleOutputRecorder` (a forward hook, or for a ``'head'``
  tap on the teacher a wrapper of the head's ``forward``, which ``_forward`` calls
  directly);
* how to pick and check them (:meth:`DistillTap.select`): the ``output`` element, the layout's
  number of dimensions and the configured channel counts, or for the ``'head'`` layout the
  shape of the raw head output tuple;
* what else its loss takes from the batch (:meth:`DistillTap.loss_inputs`, e.g. the voxel
  layout's ``batch_idx``).

Everything the ``'head'`` layout needs beyond the other layouts is here: the teacher's
``extract_feat`` never runs the head, so a tap on a top-level ``*head`` module makes the
teacher run ``_forward`` (:attr:`DistillTap.teacher_runs_head`, the only test on a module
name); ``_forward`` calls ``bbox_head.forward`` directly, so the teacher's head output is
recorded from that method (:attr:`DistillTap.teacher_records_forward`); and the features are
whole output tuples, checked by :func:`check_head_output`.
"""
from __future__ import annotations

import difflib
import inspect
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from mmengine.config import ConfigDict
from torch import Tensor, nn

from mmdet3d.registry import MODELS

from ..losses.feature_layout import HEAD_LAYOUT, LAYOUTS, layout_loss_inputs, layout_ndim
from .feature_recorder import infer_out_channels, select_output

__all__ = ['DistillTap', 'parse_distill_cfg', 'feature_tensors', 'check_head_output',
           'to_plain']

TAP_KEYS = {'name', 'module', 'student_module', 'teacher_module', 'output', 'loss',
            'clone_output'}
Feature = Union[Tensor, tuple]


def to_plain(obj: Any) -> Any:
    """ConfigDict/tuple-free copy of a config value (for comparisons and messages)."""
    if isinstance(obj, (dict, ConfigDict)):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj


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

    @property
    def teacher_runs_head(self) -> bool:
        """Whether the teacher must run its head (``_forward``) to reach this tap.

        True for a tap inside a top-level ``*head`` module (``bbox_head``, ``pts_bbox_head``
        ...): ``extract_feat`` runs everything but the head.
        """
        return self.teacher_module.split('.')[0].endswith('head')

    @property
    def teacher_records_forward(self) -> bool:
        """Whether the teacher module is recorded from its ``forward`` method, not a hook.

        True for the ``'head'`` layout: the teacher's ``_forward`` calls
        ``bbox_head.forward(x)`` directly, which runs no hook.
        """
        return self.layout == HEAD_LAYOUT

    def module_path(self, who: str) -> str:
        """The tapped path of ``who`` (``'teacher'`` or ``'student'``)."""
        return self.teacher_module if who == 'teacher' else self.student_module

    def where(self, who: str) -> str:
        """Origin of ``who``'s module path for messages, e.g.
        ``"distill_cfg[0].module (tap 'pfn', teacher)"``."""
        key = 'module' if self.teacher_module == self.student_module else f'{who}_module'
        return f'{self.key}.{key} (tap {self.name!r}, {who})'

    # ------------------------------------------------------------------ build-time checks
    def check_out_channels(self, teacher: nn.Module, student: nn.Module) -> None:
        """Compare ``loss.{teacher,student}_channels`` with the widths known from structure.

        Raises:
            ValueError: naming the config key, the module and its width.
        """
        for who, model in (('teacher', teacher), ('student', student)):
            expected = self.loss.get(f'{who}_channels')
            if expected is None:
                continue
            path = self.module_path(who)
            module = model.get_submodule(path)
            actual = infer_out_channels(module, self.output)
            if actual is not None and actual != expected:
                raise ValueError(
                    f'{self.key}.loss.{who}_channels={expected} does not match the '
                    f'{who}: module {path!r} ({type(module).__name__}, output='
                    f'{self.output!r}) outputs {actual} channels')

    def bind_loss(self, loss_module: nn.Module, teacher: nn.Module,
                  student: Optional[nn.Module] = None) -> None:
        """Check the loss module's layout; hand it the tapped teacher (and student) module if
        it asks.

        A loss module may define ``bind_teacher_module(module, where)``; it is called once,
        after the teacher weights are loaded, with the tapped teacher submodule (e.g. the
        BatchNorm whose affine parameters give the overhaul distillation's margins, or the
        head whose anchor generator and box coder decode the teacher's predictions). The
        module must not keep a reference to an ``nn.Module`` of the teacher (its parameters
        would be registered twice). ``bind_student_module(module, where)``, if defined, is
        then called with the tapped student submodule (e.g. to check that a head
        distillation loss sees the same tasks on both heads).
        """
        layout = getattr(loss_module, 'feature_layout', None)
        if layout is not None and layout != self.layout:
            raise ValueError(
                f'{self.key}.loss.feature_layout={self.layout!r} (the distiller\'s default '
                f"is 'voxel' when unset) but {type(loss_module).__name__} works on "
                f'{layout!r}; set {self.key}.loss.feature_layout={layout!r}')
        bind = getattr(loss_module, 'bind_teacher_module', None)
        if callable(bind):
            bind(teacher.get_submodule(self.teacher_module),
                 where=f'{self.key} (teacher.{self.teacher_module})')
        bind_student = getattr(loss_module, 'bind_student_module', None)
        if student is not None and callable(bind_student):
            bind_student(student.get_submodule(self.student_module),
                         where=f'{self.key} (student.{self.student_module})')
        if any(m is sub for m in loss_module.modules() for sub in teacher.modules()):
            raise RuntimeError(f'{self.key}: {type(loss_module).__name__} holds a teacher '
                               f'module; keep only tensors/plain objects')

    # ------------------------------------------------------------------ per-step
    def select(self, teacher_out: Dict[str, Any], student_out: Dict[str, Any]
               ) -> Tuple[Feature, Feature]:
        """This tap's teacher and student features out of the recorded module outputs.

        Args:
            teacher_out / student_out (dict[str, Any]): ``{module path: raw output}`` as
                recorded by the teacher's / student's recorder.

        Returns:
            tuple: ``(teacher_feat, student_feat)``: Tensors in the tap's layout (voxel
            (M, C), bev (B, C, H, W), point (B, C, P)), or for the ``'head'`` layout the raw
            head output tuples (e.g. ``(cls_scores, bbox_preds, dir_cls_preds)``, lists over
            levels of (B, A * X, H, W) maps).
        """
        t_raw = teacher_out[self.teacher_module]
        s_raw = student_out[self.student_module]
        if self.layout == HEAD_LAYOUT:
            t_feat = check_head_output(t_raw, f'{self.key} (teacher.{self.teacher_module})')
            s_feat = check_head_output(s_raw, f'{self.key} (student.{self.student_module})')
            if len(t_feat) != len(s_feat):
                raise ValueError(f'{self.key}: the teacher head returns {len(t_feat)} '
                                 f'outputs, the student head {len(s_feat)}')
            return t_feat, s_feat
        t_feat = select_output(t_raw, self.output,
                               f'{self.key}.output (teacher.{self.teacher_module})')
        s_feat = select_output(s_raw, self.output,
                               f'{self.key}.output (student.{self.student_module})')
        self._check_feature('teacher', t_feat)
        self._check_feature('student', s_feat)
        if self.layout != 'voxel' and t_feat.shape[2:] != s_feat.shape[2:]:
            raise ValueError(
                f'{self.key}: teacher.{self.teacher_module} (output={self.output!r}) gives a '
                f'{tuple(t_feat.shape[2:])} map but student.{self.student_module} a '
                f'{tuple(s_feat.shape[2:])} one; feature_layout={self.layout!r} compares them '
                f'element by element, so tap modules on the same grid (same point-cloud '
                f'range, voxel size and strides up to the tap)')
        return t_feat, s_feat

    def _check_feature(self, who: str, feat: Tensor) -> None:
        """Check a recorded feature against the tap's layout and channel config."""
        ndim = layout_ndim(self.layout)
        if feat.dim() != ndim:
            raise ValueError(
                f'{self.key}.loss.feature_layout={self.layout!r} expects {ndim}-D features '
                f'but {who}.{self.module_path(who)} gives shape {tuple(feat.shape)}')
        expected = self.loss.get(f'{who}_channels')
        if expected is not None and feat.shape[1] != expected:
            raise ValueError(
                f'{self.key}.loss.{who}_channels={expected} does not match the {who}: module '
                f'{self.module_path(who)!r} (output={self.output!r}) gives '
                f'{feat.shape[1]} channels, shape {tuple(feat.shape)}')

    def loss_inputs(self, batch_inputs_dict: dict, teacher_feat: Feature) -> Dict[str, Tensor]:
        """Keyword inputs of the loss besides the features (voxel layout: ``batch_idx`` (M,),
        ``num_points`` (M,)), see :func:`~..losses.feature_layout.layout_loss_inputs`."""
        return layout_loss_inputs(self.layout, batch_inputs_dict, teacher_feat, self.key)


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
        taps.append(_parse_tap(i, spec, taps))
    return taps


def _parse_tap(index: int, spec: Any, earlier: List[DistillTap]) -> DistillTap:
    """One entry of ``distill_cfg`` (``earlier``: the taps parsed before it)."""
    key = f'distill_cfg[{index}]'
    if not isinstance(spec, (dict, ConfigDict)):
        raise TypeError(f'{key} must be a dict, got {type(spec).__name__}')
    unknown = set(spec) - TAP_KEYS
    if unknown:
        raise KeyError(f'{key} has unknown keys {sorted(unknown)}; allowed: '
                       f'{sorted(TAP_KEYS)}')
    name = spec.get('name')
    if not isinstance(name, str) or not re.fullmatch(r'[A-Za-z0-9_]+', name):
        raise ValueError(f'{key}.name must be a non-empty string of letters, digits and '
                         f'underscores (it becomes the loss key loss_pd_<name>), '
                         f'got {name!r}')
    if any(t.name == name for t in earlier):
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
    loss = to_plain(loss)
    check_loss_keys(f'{key}.loss', loss)
    layout = loss.get('feature_layout', 'voxel')
    if layout not in LAYOUTS:
        raise ValueError(f'{key}.loss.feature_layout={layout!r} is not one of '
                         f'{sorted(LAYOUTS)}')
    output = spec.get('output')
    if output is not None and (isinstance(output, bool) or not isinstance(output, (int, str))):
        raise TypeError(f'{key}.output must be None, an int or a str, got {output!r}')
    tap = DistillTap(index, name, s_mod, t_mod, output, loss)
    if layout == HEAD_LAYOUT:
        if output is not None:
            raise ValueError(f"{key}.output must be None for feature_layout='head' (the "
                             f'loss receives the whole head output tuple), got {output!r}')
        if '.' in t_mod or not tap.teacher_runs_head:
            raise ValueError(f"{key}: feature_layout='head' taps the detector's head, a "
                             f"top-level module whose name ends in 'head' (e.g. "
                             f"'bbox_head'), got teacher module {t_mod!r}")
    clone_output = spec.get('clone_output', False)
    if not isinstance(clone_output, bool):
        raise TypeError(f'{key}.clone_output must be a bool, got {clone_output!r}')
    tap.clone_output = clone_output
    return tap


def check_loss_keys(key: str, loss: dict) -> None:
    """Refuse a loss config whose ``type`` is not registered or that names an argument its
    class does not take, naming the config key, the unknown argument and the closest valid
    one (instead of the bare ``TypeError`` of ``__init__`` raised deep in the build).

    Raises:
        KeyError: e.g. ``distill_cfg[0].loss has unknown key 'num_neighbours' for
        PointDistillerLoss (did you mean 'num_neighbors'?)``.
    """
    cls = MODELS.get(loss['type']) if isinstance(loss['type'], str) else loss['type']
    if cls is None:
        raise KeyError(f"{key}.type={loss['type']!r} is not a registered loss in mmdet3d's "
                       f"scope (is the package that defines it in custom_imports?)")
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    valid = sorted(n for n in params if n != 'self')
    unknown = sorted(set(loss) - set(valid) - {'type'})
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, valid, n=1)
        hints.append(f'{name!r}' + (f' (did you mean {close[0]!r}?)' if close else ''))
    raise KeyError(f"{key} has unknown key{'s' if len(unknown) > 1 else ''} "
                   f"{', '.join(hints)} for {cls.__name__}; its keys: {', '.join(valid)}")


def feature_tensors(feat: Any) -> List[Tensor]:
    """The Tensors of a feature: itself, or those of a (nested) head output tuple."""
    if isinstance(feat, Tensor):
        return [feat]
    if isinstance(feat, (tuple, list)):
        return [t for item in feat for t in feature_tensors(item)]
    if isinstance(feat, dict):  # e.g. CenterHead: a dict of maps per task and level
        return [t for item in feat.values() for t in feature_tensors(item)]
    return []


def check_head_output(output: Any, where: str) -> tuple:
    """Validate raw head outputs: a tuple whose items are Tensors, or lists of Tensors or of
    dicts of Tensors.

    Returns:
        tuple: the output, e.g. ``(cls_scores, bbox_preds, dir_cls_preds)`` of an
        ``Anchor3DHead``, each a list over feature levels of (B, A * X, H, W) maps; or, of a
        ``CenterHead``, one item per task, a list over levels of
        ``dict(heatmap=(B, K, H, W), reg=(B, 2, H, W), ...)``.
    """
    if not isinstance(output, (tuple, list)) or not output:
        raise TypeError(f"{where}: feature_layout='head' expects the head to return a non-empty "
                        f'tuple of outputs, got {type(output).__name__}')
    for i, item in enumerate(output):
        if isinstance(item, (tuple, list)):
            for j in range(len(item)):
                if isinstance(item[j], dict):
                    for key in item[j]:
                        select_output(item[j], key, f'{where} output[{i}][{j}]')
                elif item[j] is not None:
                    select_output(item, j, f'{where} output[{i}]')
        elif item is not None:
            select_output(output, i, f'{where} output')
    if not feature_tensors(output):
        raise TypeError(f'{where}: the head output holds no Tensor')
    return tuple(output)
