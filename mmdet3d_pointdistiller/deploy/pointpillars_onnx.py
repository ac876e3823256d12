"""ONNX export and ONNX Runtime inference of PointPillars-family detectors (and, through
:mod:`.centerpoint_onnx`, of pillar CenterPoint: the same inputs and pre/post-processing split,
its own network and ``CenterHead.predict_by_feat``; parity checks: :mod:`.parity`).

The split is the one mmdeploy uses for mmdet3d voxel detectors (``VoxelDetection``,
``end2end.onnx`` with inputs ``voxels``, ``num_points``, ``coors``), so the file is familiar
to mmdeploy / TensorRT users:

* **outside the graph, before it** — hard voxelisation by mmdet3d's own
  ``Det3DDataPreprocessor.voxelize`` (mmcv's compiled ``Voxelization``), exactly as in
  ``model.predict``;
* **in the graph** — ``PillarFeatureNet`` (voxel encoder), the ``PointPillarsScatter`` of
  one sample (an ONNX ``ScatterND`` onto the BEV canvas), the backbone, the neck and the
  head's convolutions. Inputs ``voxels (V, P, C_in) float32``, ``num_points (V,) int32``,
  ``coors (V, 4) int32`` (``[batch=0, z, y, x]``), ``V`` dynamic; outputs per head level
  ``cls_score (1, A*K, H, W)``, ``bbox_pred (1, A*B, H, W)``, ``dir_cls_pred (1, A*2, H, W)``
  (``A`` anchors per cell, ``K`` classes, ``B`` box code size);
* **outside the graph, after it** — mmdet3d's own ``bbox_head.predict_by_feat`` (anchor
  decoding, score threshold, rotated NMS). No second NMS is written here.

The exporter is torch 2.13's default ``torch.onnx.export(..., dynamo=True)`` (``torch.export``
+ ``onnxscript``). The TorchScript exporter (``dynamo=False``) is not used because it gets
``PillarFeatureNet(legacy=True)`` (mmdet3d's default, used by every PointPillars config) wrong:
that forward subtracts the pillar centre from ``features[:, :, :3]`` *in place through a view*
after ``features`` was put in the list it concatenates, and the TorchScript exporter
concatenates the pre-write values (measured: max abs difference 0.76 on the head outputs of
the sim 4x student, 1e-6 with ``legacy=False``); ``torch.export`` functionalises the mutation
and matches PyTorch to 5e-7. The exported file carries the model config in its metadata
(``pointdistiller.model_cfg``), so :class:`OnnxPointPillars` needs nothing but the ``.onnx``
file to voxelise and post-process.

Only batch size 1 is exported (deployment of one LiDAR sweep at a time).
"""
from __future__ import annotations

import abc
import copy
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint, load_state_dict
from torch import Tensor, nn

from mmdet3d.registry import MODELS
from mmdet3d.structures import Box3DMode, LiDARInstance3DBoxes

from ..models.distillers.state_dict import STUDENT, has_part, sub_state_dict
from .centerpoint_onnx import (CenterPointOnnxNet, centerpoint_problems, parse_output_names,
                               split_outputs, task_heads)
from .centerpoint_onnx import build_head as build_center_head

__all__ = ['UnsupportedModelError', 'check_exportable', 'build_detector', 'make_net',
           'PointPillarsOnnxNet', 'export_onnx', 'OnnxPointPillars', 'TorchPointPillars',
           'read_model_cfg', 'ONNX_OPSET', 'EXPORTER']

ONNX_OPSET = 18  # the dynamo exporter's own opset (down-conversion to 17 fails)
EXPORTER = 'torch.onnx.export(dynamo=True) (torch.export + onnxscript)'
META_CFG = 'pointdistiller.model_cfg'
INPUT_NAMES = ('voxels', 'num_points', 'coors')
DISTILLER_TYPES = ('PointDistillerDetector',)

_UNSUPPORTED_WHY = {
    'SparseEncoder': (
        "SECOND's middle encoder (SparseEncoder) runs 3-D sparse convolutions (spconv or "
        "mmcv's SparseConv), which have no ONNX operator. Exporting it needs a custom "
        'sparse-convolution op in the graph plus a kernel for it in the runtime (e.g. a '
        'TensorRT plugin such as the ones shipped with spconv-based deployment projects); '
        'neither ONNX Runtime nor this tool provides one'),
    'PointRCNN': (
        "PointRCNN runs mmcv's point operators (furthest point sampling, ball query, "
        'grouping, three_nn/three_interpolate, RoIPointPool3d) that have no ONNX symbolic, '
        'and its second stage pools a data-dependent number of proposals. Exporting it needs '
        'custom ONNX ops for each of those operators plus ONNX Runtime/TensorRT kernels for '
        'them, and a two-stage graph split around the proposal step'),
}


class UnsupportedModelError(ValueError):
    """The detector is not a PointPillars-family model this exporter handles."""


# ----------------------------------------------------------------------------- config checks
def _model_cfg(cfg: Union[Config, ConfigDict, dict]) -> ConfigDict:
    """The detector config of ``cfg`` (a full config or its ``model``); for a distillation
    config the student's config, with the distiller's ``data_preprocessor`` when the student
    has none."""
    model = cfg.get('model', cfg) if isinstance(cfg, (Config, ConfigDict, dict)) else cfg
    model = ConfigDict(copy.deepcopy(dict(model)))
    if model.get('type') in DISTILLER_TYPES:
        student = ConfigDict(copy.deepcopy(dict(model['student'])))
        if 'data_preprocessor' not in student and 'data_preprocessor' in model:
            student['data_preprocessor'] = model['data_preprocessor']
        return student
    return model


def check_exportable(cfg: Union[Config, ConfigDict, dict]) -> ConfigDict:
    """Return the detector config to export, or raise :class:`UnsupportedModelError`.

    Supported: ``VoxelNet`` with ``PillarFeatureNet`` + ``PointPillarsScatter`` and hard
    voxelisation, an anchor head with a direction classifier (every PointPillars config of
    mmdet3d and of this project, KITTI and simulated grids, teacher and students); pillar
    ``CenterPoint`` (:mod:`.centerpoint_onnx`); and the student of a PointDistiller config.

    Args:
        cfg: a full config (with ``model``) or a model config.

    Raises:
        UnsupportedModelError: naming the family, why it cannot be exported and what would
            be needed.
    """
    model = _model_cfg(cfg)
    mtype = model.get('type')
    if mtype == 'PointRCNN' or 'PointRCNN' in str(mtype):
        raise UnsupportedModelError(
            f'cannot export {mtype} to ONNX: {_UNSUPPORTED_WHY["PointRCNN"]}. Only '
            'PointPillars-family detectors (VoxelNet + PillarFeatureNet + PointPillarsScatter) '
            'are supported.')
    middle = (model.get('middle_encoder') or {}).get('type')
    if middle == 'SparseEncoder' or 'Sparse' in str(middle):
        raise UnsupportedModelError(
            f'cannot export {mtype} with middle encoder {middle} (SECOND family) to ONNX: '
            f'{_UNSUPPORTED_WHY["SparseEncoder"]}. Only PointPillars-family detectors '
            '(VoxelNet + PillarFeatureNet + PointPillarsScatter) are supported.')
    encoder = (model.get('voxel_encoder') or {}).get('type')
    preproc = model.get('data_preprocessor') or {}
    problems = []
    if mtype == 'CenterPoint':
        problems = centerpoint_problems(model)
        if problems:
            raise UnsupportedModelError('only pillar CenterPoint (PillarFeatureNet + '
                                        'PointPillarsScatter + CenterHead) can be exported: '
                                        + '; '.join(problems))
        return model
    if mtype != 'VoxelNet':
        problems.append(f'model.type is {mtype!r}, not VoxelNet')
    if encoder != 'PillarFeatureNet':
        problems.append(f'voxel_encoder is {encoder!r}, not PillarFeatureNet')
    if middle != 'PointPillarsScatter':
        problems.append(f'middle_encoder is {middle!r}, not PointPillarsScatter')
    if preproc.get('voxel_type', 'hard') != 'hard' or not preproc.get('voxel', False):
        problems.append('data_preprocessor does not use hard voxelisation '
                        f"(voxel={preproc.get('voxel')}, voxel_type="
                        f"{preproc.get('voxel_type', 'hard')!r})")
    if not (model.get('bbox_head') or {}).get('use_direction_classifier', True):
        problems.append('bbox_head has no direction classifier (use_direction_classifier=False)')
    if problems:
        raise UnsupportedModelError(
            'only PointPillars-family detectors (VoxelNet + PillarFeatureNet + '
            'PointPillarsScatter, hard voxelisation, anchor head with direction classifier) can '
            'be exported: ' + '; '.join(problems))
    return model


def build_detector(cfg: Union[Config, ConfigDict, dict],
                   checkpoint: Optional[Union[str, Path]] = None) -> nn.Module:
    """Build the exportable detector of ``cfg`` in eval mode on the CPU and load weights.

    Args:
        cfg: full config or model config (a PointDistiller config gives its student).
        checkpoint: a plain detector checkpoint, or a PointDistiller training checkpoint
            (its ``student.*`` weights are used). ``None`` keeps the initialisation.

    Raises:
        UnsupportedModelError: see :func:`check_exportable`.
        KeyError: when the checkpoint's keys do not fit the model (missing and unexpected
            keys listed).
    """
    model_cfg = check_exportable(cfg)
    init_default_scope('mmdet3d')
    model = MODELS.build(model_cfg)
    if checkpoint is None:
        model.init_weights()
    else:
        ckpt = _load_checkpoint(str(checkpoint), map_location='cpu')
        state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
        if has_part(state, STUDENT):  # a distillation checkpoint: its student
            state = sub_state_dict(state, STUDENT)
        own = model.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise KeyError(f'checkpoint {checkpoint} does not fit the model: missing keys '
                           f'{missing[:10]} ({len(missing)}), unexpected keys '
                           f'{unexpected[:10]} ({len(unexpected)})')
        load_state_dict(model, state, strict=True)
    return model.eval()


# ----------------------------------------------------------------------------- the graph
class PointPillarsOnnxNet(nn.Module):
    """Voxel encoder -> scatter (one sample) -> backbone -> neck -> head convolutions.

    The exported part of a ``VoxelNet`` PointPillars detector; the submodules are the
    detector's own (shared, not copied).
    """

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.voxel_encoder = detector.voxel_encoder
        self.middle_encoder = detector.middle_encoder
        self.backbone = detector.backbone
        self.neck = detector.neck if getattr(detector, 'with_neck', False) else None
        self.bbox_head = detector.bbox_head

    def forward(self, voxels: Tensor, num_points: Tensor, coors: Tensor) -> Tuple[Tensor, ...]:
        """Args:
            voxels: (V, P, C_in) float32 points per pillar, zero-padded to P (not modified).
            num_points: (V,) int32 points in each pillar.
            coors: (V, 4) int32 ``[batch=0, z, y, x]`` pillar indices.

        Returns:
            For L head levels, ``cls_score_0..L-1`` (1, A*K, H, W), ``bbox_pred_0..L-1``
            (1, A*B, H, W), ``dir_cls_pred_0..L-1`` (1, A*2, H, W), in that order.
        """
        # PillarFeatureNet(legacy=True) writes into its input: keep the caller's tensor intact
        feats = self.voxel_encoder(voxels.clone(), num_points, coors)  # (V, C)
        canvas = self.middle_encoder(feats, coors)  # batch of one: (1, C, ny, nx)
        x = self.backbone(canvas)
        if self.neck is not None:
            x = self.neck(x)
        cls_scores, bbox_preds, dir_preds = self.bbox_head(x)
        return tuple(cls_scores) + tuple(bbox_preds) + tuple(dir_preds)


def make_net(detector: nn.Module) -> nn.Module:
    """The exported network of ``detector``: :class:`PointPillarsOnnxNet` or, for a pillar
    CenterPoint, :class:`~.centerpoint_onnx.CenterPointOnnxNet`."""
    if hasattr(detector, 'pts_bbox_head'):
        return CenterPointOnnxNet(detector).eval()
    return PointPillarsOnnxNet(detector).eval()


def output_names(num_levels: int) -> List[str]:
    """ONNX output names: mmdeploy's ``cls_score``/``bbox_pred``/``dir_cls_pred`` for one head
    level, with a ``_<level>`` suffix for several."""
    if num_levels == 1:
        return ['cls_score', 'bbox_pred', 'dir_cls_pred']
    return [f'{name}_{i}' for name in ('cls_score', 'bbox_pred', 'dir_cls_pred')
            for i in range(num_levels)]


class _Voxeliser:
    """mmdet3d's own hard voxelisation of one point cloud (eval mode: test ``max_voxels``)."""

    def __init__(self, model_cfg: ConfigDict) -> None:
        self.preprocessor = MODELS.build(copy.deepcopy(model_cfg.data_preprocessor)).eval()

    def __call__(self, points: Tensor) -> Dict[str, Tensor]:
        """points (N, C_in) float32 -> ``voxels (V, P, C_in)``, ``num_points (V,)`` int32,
        ``coors (V, 4)`` int32 ``[0, z, y, x]``."""
        out = self.preprocessor.voxelize([points], None)
        return dict(voxels=out['voxels'], num_points=out['num_points'], coors=out['coors'])


def _input_metas() -> List[dict]:
    return [dict(box_type_3d=LiDARInstance3DBoxes, box_mode_3d=Box3DMode.LIDAR)]


def _split_outputs(outs: Sequence[Tensor], num_levels: int) -> Tuple[List[Tensor], ...]:
    n = num_levels
    return list(outs[:n]), list(outs[n:2 * n]), list(outs[2 * n:3 * n])


# ----------------------------------------------------------------------------- export
def export_onnx(detector: nn.Module, model_cfg: ConfigDict, out_path: Union[str, Path],
                example_points: Tensor, opset: int = ONNX_OPSET,
                extra_metadata: Optional[Dict[str, str]] = None) -> Path:
    """Export ``detector`` (built by :func:`build_detector`) to ``out_path``.

    Args:
        detector: the eval-mode detector.
        model_cfg: its config (from :func:`check_exportable`); stored in the file's metadata.
        out_path: the ``.onnx`` file to write (one file, weights inside).
        example_points: (N, C_in) float32 point cloud used for tracing (its pillar count
            does not matter: the pillar axis is dynamic).
        opset: ONNX opset.
        extra_metadata: more ``metadata_props`` entries.

    Returns:
        ``out_path``, checked with ``onnx.checker``.
    """
    import onnx  # lazy: optional dependency (onnx, the deploy extra)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    net = make_net(detector)
    inputs = _Voxeliser(model_cfg)(example_points)
    args = tuple(inputs[k].clone() for k in INPUT_NAMES)
    if isinstance(net, CenterPointOnnxNet):
        names = net.output_names()
    else:
        with torch.no_grad():
            names = output_names(len(net(*(a.clone() for a in args))) // 3)
    num_voxels = torch.export.Dim('num_voxels', min=2, max=1 << 20)
    with torch.no_grad():
        program = torch.onnx.export(
            net, args, dynamo=True, opset_version=opset, input_names=list(INPUT_NAMES),
            output_names=names, dynamic_shapes={k: {0: num_voxels} for k in INPUT_NAMES},
            external_data=False, verbose=False)
    model = program.model_proto
    meta = {META_CFG: Config(dict(model=model_cfg.to_dict())).pretty_text,
            'pointdistiller.exporter': EXPORTER,
            'pointdistiller.torch_version': torch.__version__}
    meta.update(extra_metadata or {})
    for key, value in meta.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(out_path))
    return out_path


def read_model_cfg(onnx_path: Union[str, Path]) -> ConfigDict:
    """The model config stored by :func:`export_onnx` in the file's metadata."""
    import onnx  # lazy: optional dependency (onnx, the deploy extra)
    model = onnx.load(str(onnx_path), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    if META_CFG not in meta:
        raise ValueError(f'{onnx_path} has no {META_CFG} metadata: it was not written by '
                         'tools/deploy_onnx.py; pass the model config explicitly')
    return Config.fromstring(meta[META_CFG], '.py').model


# ----------------------------------------------------------------------------- runners
class _Runner(abc.ABC):
    """Shared voxelise -> network -> ``predict_by_feat`` path; subclasses run the network."""

    def __init__(self, model_cfg: ConfigDict, num_levels: int,
                 head: Optional[nn.Module] = None) -> None:
        init_default_scope('mmdet3d')
        self.model_cfg = model_cfg
        self.num_levels = num_levels
        self.voxelise = _Voxeliser(model_cfg)
        self.center = model_cfg.get('type') == 'CenterPoint'
        if head is None and self.center:
            head = build_center_head(model_cfg)
        elif head is None:  # only anchors, coder and test_cfg are used: weights do not matter
            head_cfg = copy.deepcopy(model_cfg.bbox_head)
            head_cfg.update(train_cfg=model_cfg.get('train_cfg'),
                            test_cfg=model_cfg.get('test_cfg'))
            head = MODELS.build(head_cfg).eval()
        self.head = head
        self.task_heads = task_heads(head) if self.center else None

    @abc.abstractmethod
    def run_net(self, voxel_dict: Dict[str, Tensor]) -> List[Tensor]:
        """The raw head outputs (see :meth:`PointPillarsOnnxNet.forward`) of one voxelised
        sample (``voxels``, ``num_points``, ``coors`` as :class:`_Voxeliser` gives them)."""

    def postprocess(self, outs: Sequence[Tensor]):
        """mmdet3d's ``predict_by_feat`` on the raw head outputs -> ``InstanceData`` with
        ``bboxes_3d`` (LiDARInstance3DBoxes, (n, 7)), ``scores_3d`` (n,), ``labels_3d`` (n,)."""
        with torch.no_grad():
            if self.center:  # CenterHead: a tuple over tasks of [dict]; 9-value boxes
                return self.head.predict_by_feat(split_outputs(outs, self.task_heads),
                                                 batch_input_metas=_input_metas())[0]
            cls, bbox, dirs = _split_outputs(outs, self.num_levels)
            return self.head.predict_by_feat(cls, bbox, dirs,
                                             batch_input_metas=_input_metas())[0]

    def predict(self, points: Tensor, timings: Optional[Dict[str, float]] = None):
        """points (N, C_in) float32 -> detections (``InstanceData``).

        ``timings``, when given, receives ``voxelise``, ``net`` and ``post`` seconds."""
        t0 = time.perf_counter()
        voxel_dict = self.voxelise(points)
        t1 = time.perf_counter()
        outs = self.run_net(voxel_dict)
        t2 = time.perf_counter()
        result = self.postprocess(outs)
        t3 = time.perf_counter()
        if timings is not None:
            timings.update(voxelise=t1 - t0, net=t2 - t1, post=t3 - t2)
        return result


class TorchPointPillars(_Runner):
    """PyTorch eager reference: the same voxelisation and post-processing, the network of
    :class:`PointPillarsOnnxNet` run by torch."""

    def __init__(self, detector: nn.Module, model_cfg: ConfigDict) -> None:
        self.net = make_net(detector)
        if isinstance(self.net, CenterPointOnnxNet):
            super().__init__(model_cfg, num_levels=1, head=detector.pts_bbox_head)
        else:
            super().__init__(model_cfg, num_levels=detector.bbox_head.prior_generator.num_levels,
                             head=detector.bbox_head)

    def run_net(self, voxel_dict: Dict[str, Tensor]) -> List[Tensor]:
        """The raw head outputs (see :meth:`PointPillarsOnnxNet.forward`)."""
        with torch.no_grad():
            return list(self.net(voxel_dict['voxels'], voxel_dict['num_points'],
                                 voxel_dict['coors']))


class OnnxPointPillars(_Runner):
    """ONNX Runtime inference of a file written by :func:`export_onnx`.

    Args:
        onnx_path: the exported file.
        providers: ONNX Runtime execution providers, names or ``(name, options)`` pairs
            (default: CPU), e.g. ``[('CUDAExecutionProvider', {'use_tf32': 0}),
            'CPUExecutionProvider']``.
        threads: ``intra_op_num_threads`` (0: ONNX Runtime's default).
        model_cfg: the model config; default: the one stored in the file.
    """

    def __init__(self, onnx_path: Union[str, Path],
                 providers: Sequence[Union[str, Tuple[str, Dict[str, Any]]]] = (
                     'CPUExecutionProvider',), threads: int = 0,
                 model_cfg: Optional[ConfigDict] = None) -> None:
        import onnxruntime as ort  # lazy: optional dependency (onnxruntime, the deploy extra)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(onnx_path), sess_options=opts,
                                            providers=list(providers))
        self.output_names = [o.name for o in self.session.get_outputs()]
        super().__init__(model_cfg if model_cfg is not None else read_model_cfg(onnx_path),
                         num_levels=len(self.output_names) // 3)
        if self.center:  # the split the graph was exported with
            self.task_heads = parse_output_names(self.output_names)

    def run_net(self, voxel_dict: Dict[str, Tensor]) -> List[Tensor]:
        """The raw head outputs as CPU float32 tensors, in :func:`output_names` order."""
        feeds = {k: voxel_dict[k].cpu().numpy() for k in INPUT_NAMES}
        return [torch.from_numpy(o) for o in self.session.run(self.output_names, feeds)]
