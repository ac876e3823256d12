"""``PointDistillerDetector``: a frozen teacher + a trainable student + PointDistiller losses.

Data flow of one training step (``loss()``):

1. The distiller's data preprocessor (the student's ``Det3DDataPreprocessor``) runs once;
   teacher and student see the very same voxels / points. Build time asserts that the
   teacher's preprocessing settings are identical to the student's (:mod:`.teacher`).
2. Teacher (``eval()``, ``requires_grad=False``, ``torch.no_grad()``): ``extract_feat`` runs
   only until every tapped teacher module has produced its output (the recorder raises a
   private exception, see :mod:`.feature_recorder`). When a tap names a module outside
   ``extract_feat`` (a top-level ``*head`` such as ``bbox_head``), the teacher runs
   ``_forward`` (extract_feat + head forward, tensor mode) instead; a ``'head'``-layout tap
   receives the raw head outputs (e.g. ``(cls_scores, bbox_preds, dir_cls_preds)``, lists
   over levels), recorded from the head's ``forward``.
3. Student: its own ``loss()``; its ``loss_*`` keys are returned unchanged while forward
   hooks record the tapped student features.
4. For each tap (:class:`~.tap.DistillTap`: selection and checks of its features), a
   :class:`PointDistillerLoss` (held in ``self.distill_losses``, together with its
   teacher/student adapters) gives ``loss_pd_<tap name>``.

``predict()`` / ``_forward()`` run the student only. Parameter names are ``student.*``,
``teacher.*`` and ``distill_losses.*``; the teacher's weights are part of every checkpoint
(a resumed run is self-contained); ``tools/export_student.py`` turns such a checkpoint
into a plain student checkpoint.
"""
from __future__ import annotations

import copy
import logging
from typing import Any, Dict, Optional, Sequence, Union

import torch
from mmengine.config import ConfigDict
from mmengine.logging import print_log
from mmengine.model import ModuleDict
from torch import Tensor, nn

from mmdet3d.models.detectors import Base3DDetector
from mmdet3d.registry import MODELS
from mmdet3d.structures.det3d_data_sample import OptSampleList, SampleList
from ..tensor_forward import tensor_forward
from .batch import clone_tensors, drop_empty_samples
from .feature_recorder import ModuleOutputRecorder, resolve_submodule
from .tap import DistillTap, feature_tensors, parse_distill_cfg, to_plain
from ..layers import fold_teacher_pfn
from .teacher import (check_distiller_state_dict, check_same_preprocessing,
                      check_teacher_ckpt_path, freeze_teacher, load_teacher_checkpoint,
                      load_teacher_config, teacher_takes_metas)

__all__ = ['PointDistillerDetector', 'DistillTap', 'load_teacher_config', 'parse_distill_cfg']


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
        teacher_fast_pfn (bool): evaluate the frozen teacher's last ``PFNLayer`` with its
            BatchNorm folded into the linear map (:mod:`..layers.pfn_fastpath`): the same
            function up to float rounding, ~4x faster for the pillar encoder on a CPU. Needs
            ``teacher_norm_eval=True``. Defaults to False (bitwise the upstream layer).
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
                 teacher_fast_pfn: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if not isinstance(student, (dict, ConfigDict)) or 'type' not in student:
            raise TypeError("student must be a detector config dict with 'type'")
        student = ConfigDict(copy.deepcopy(student))
        if data_preprocessor is None:
            data_preprocessor = copy.deepcopy(student.get('data_preprocessor'))
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self._preprocessor_cfg = to_plain(data_preprocessor)
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
            check_same_preprocessing(self._preprocessor_cfg,
                                     to_plain(student.get('data_preprocessor')),
                                     to_plain(teacher_cfg.get('data_preprocessor')))
            check_teacher_ckpt_path(teacher_ckpt)
            if teacher_fast_pfn and not teacher_norm_eval:
                raise ValueError('model.teacher_fast_pfn=True needs model.teacher_norm_eval='
                                 'True: the folded BatchNorm uses the running statistics')

        self.student = MODELS.build(student)
        # --resume / load_from: refuse a checkpoint that would leave part of the distiller
        # (student, teacher, adapters) as built instead of restored
        self.register_load_state_dict_pre_hook(check_distiller_state_dict)

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
        load_teacher_checkpoint(self.teacher, teacher_ckpt)
        if teacher_fast_pfn:
            folded = fold_teacher_pfn(self.teacher)
            if not folded:
                raise ValueError('model.teacher_fast_pfn=True, but the teacher has no '
                                 'foldable PFNLayer (voxel_encoder.pfn_layers: last layer, '
                                 "mode='max', BatchNorm1d)")
            print_log(f'PointDistillerDetector: teacher_fast_pfn folded {folded} PFNLayer '
                      '(BatchNorm into the linear map)', logger='current')
        # the teacher is left out of DistributedDataParallel (torch's documented attribute)
        self._ddp_params_and_buffers_to_ignore = freeze_teacher(self.teacher)
        self._build_recorders()
        self.distill_losses = ModuleDict(
            {tap.name: MODELS.build(copy.deepcopy(tap.loss)) for tap in self.taps})
        torch.random.set_rng_state(rng_state)
        for tap in self.taps:
            tap.bind_loss(self.distill_losses[tap.name], self.teacher, self.student)
        self._teacher_takes_metas = teacher_takes_metas(self.teacher.extract_feat)
        self._log_summary()

    # ------------------------------------------------------------------ build helpers
    def _build_recorders(self) -> None:
        """Record the tapped modules; check channel widths where they are known.

        Teacher ``'head'``-layout taps are recorded from the head's ``forward`` method: the
        teacher's ``_forward`` calls ``bbox_head.forward`` directly, so no hook fires. Every
        other tap is recorded by a forward hook; the teacher stops once all are recorded.
        """
        t_paths: Dict[str, str] = {}
        s_paths: Dict[str, str] = {}
        for tap in self.taps:
            t_paths.setdefault(tap.teacher_module, tap.where('teacher'))
            s_paths.setdefault(tap.student_module, tap.where('student'))
        # resolve everything first so that a bad name fails before any hook is added
        for path, where in t_paths.items():
            resolve_submodule(self.teacher, path, where)
        for path, where in s_paths.items():
            resolve_submodule(self.student, path, where)
        self._teacher_runs_head = any(tap.teacher_runs_head for tap in self.taps)
        self._teacher_recorder = ModuleOutputRecorder(
            self.teacher, t_paths, stop_when_complete=True,
            clone_paths={t.teacher_module for t in self.taps if t.clone_output},
            method_paths={t.teacher_module for t in self.taps if t.teacher_records_forward})
        self._student_recorder = ModuleOutputRecorder(
            self.student, s_paths,
            clone_paths={t.student_module for t in self.taps if t.clone_output})
        for tap in self.taps:
            tap.check_out_channels(self.teacher, self.student)

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
        batch_inputs_dict = clone_tensors(batch_inputs_dict)
        with self._teacher_recorder.recording() as buf:
            if self._teacher_runs_head:
                self._teacher_head_forward(batch_inputs_dict, batch_data_samples)
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
        return dict(buf)

    def _teacher_head_forward(self, batch_inputs_dict: dict,
                              batch_data_samples: SampleList) -> None:
        """Run the teacher through its tapped head(s) in tensor mode (no decoding); MVX
        detectors (CenterPoint) through their point head, see :func:`..tensor_forward`."""
        heads = sorted({t.teacher_module.split('.')[0] for t in self.taps
                        if t.teacher_runs_head})
        tensor_forward(self.teacher, batch_inputs_dict, batch_data_samples, heads)

    def loss(self, batch_inputs_dict: dict, batch_data_samples: SampleList,
             **kwargs) -> Dict[str, Tensor]:
        """Student detection losses (``loss_*`` keys unchanged) + ``loss_pd_<tap>`` terms.

        Args:
            batch_inputs_dict (dict): preprocessed inputs (``points`` list, and for voxel
                detectors ``voxels`` = dict(voxels (M, T, C), coors (M, 4) with the batch
                index first, num_points (M,))).
            batch_data_samples (list[Det3DDataSample]): ground truth.

        A sample without points (or, for voxel detectors, without voxels) is dropped from the
        batch with a warning naming it (see :func:`~.batch.drop_empty_samples`).
        """
        batch_inputs_dict, batch_data_samples = drop_empty_samples(batch_inputs_dict,
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
            t_feat, s_feat = tap.select(teacher_out, student_out)
            losses[tap.loss_key] = self._tap_loss(tap, t_feat, s_feat, batch_inputs_dict)
        return losses

    def _tap_loss(self, tap: DistillTap, t_feat: Union[Tensor, tuple],
                  s_feat: Union[Tensor, tuple], batch_inputs_dict: dict) -> Tensor:
        """One tap's KD loss; a non-finite value is replaced by a graph-connected zero."""
        loss_module = self.distill_losses[tap.name]
        kwargs = tap.loss_inputs(batch_inputs_dict, t_feat)
        s_ref = feature_tensors(s_feat)[0]
        if not all(bool(torch.isfinite(t).all()) for t in feature_tensors(t_feat)):
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
