"""Dense reference of :class:`PointDistillerLoss` — a yardstick, NOT used in training.

An independent, deliberately naive re-implementation in the style of the original code
(github.com/RunpeiDong/PointDistiller, ``kd_utils.square_distance`` / ``knn_feature`` and
``voxelnet.py``): the full (N, M) distance matrix per sample, ``torch.topk``, explicitly
repeated (N, K, 2C) edge tensors, ``F.conv2d`` on (B, 2C, N, K), ``F.batch_norm``,
``F.relu`` and a weighted mean. It follows the *semantics* of :class:`PointDistillerLoss`
(per-sample top-N, centre forced to node 0, paper reweighting, clamping), so tests can
compare the memory-bounded implementation against it value by value, and benchmarks can
measure what the memory bound saves. It costs O(N*M) memory for the distances and
O(N*K*2C) for the edges.
"""
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch import Tensor


@dataclass
class DenseAdapter:
    """Plain tensors of one adapter (1x1 conv + optional BN + optional ReLU).

    ``weight``/``bias``/``bn_weight``/``bn_bias`` are normally the very Parameters of a
    module (so gradients can be compared); the running statistics are copies, updated in
    place when the reference runs in training mode.

    Attributes:
        weight (Tensor): (C', C_in, 1, 1) conv weight.
        bias (Tensor | None): (C',) conv bias.
        bn_weight, bn_bias (Tensor | None): (C',) BN affine parameters.
        running_mean, running_var (Tensor | None): (C',) BN running statistics.
        num_batches_tracked (Tensor | None): () BN step counter.
        has_norm (bool): whether a BN layer follows the conv.
        eps (float): BN epsilon.
        momentum (float | None): BN momentum (None = cumulative average).
        relu (bool): whether a ReLU follows.
    """
    weight: Tensor
    bias: Optional[Tensor] = None
    bn_weight: Optional[Tensor] = None
    bn_bias: Optional[Tensor] = None
    running_mean: Optional[Tensor] = None
    running_var: Optional[Tensor] = None
    num_batches_tracked: Optional[Tensor] = None
    has_norm: bool = False
    eps: float = 1e-5
    momentum: Optional[float] = 0.1
    relu: bool = True

    @classmethod
    def from_conv_module(cls, module: ConvModule) -> 'DenseAdapter':
        """Share the module's parameters, copy its running statistics."""
        if module.with_activation and type(module.activate).__name__ != 'ReLU':
            raise ValueError('the dense reference supports act_cfg=dict(type="ReLU") or None, got '
                             f'{type(module.activate).__name__}')
        kwargs = dict(weight=module.conv.weight, bias=module.conv.bias,
                      relu=module.with_activation, has_norm=module.with_norm)
        if module.with_norm:
            bn = module.norm
            kwargs.update(
                bn_weight=bn.weight, bn_bias=bn.bias, eps=bn.eps, momentum=bn.momentum,
                running_mean=None if bn.running_mean is None else bn.running_mean.clone(),
                running_var=None if bn.running_var is None else bn.running_var.clone(),
                num_batches_tracked=(None if bn.num_batches_tracked is None else
                                     bn.num_batches_tracked.clone()))
        return cls(**kwargs)

    def conv(self, x: Tensor) -> Tensor:
        """(B, C_in, N, K) -> (B, C', N, K)."""
        return F.conv2d(x, self.weight, self.bias)

    def norm_act(self, x: Tensor, training: bool) -> Tensor:
        """BN2d (batch statistics over dims 0, 2, 3 when training) and ReLU on (B, C', N, K)."""
        if self.has_norm:
            factor = self.momentum
            if training and self.num_batches_tracked is not None:
                self.num_batches_tracked.add_(1)
                if self.momentum is None:
                    factor = 1.0 / float(self.num_batches_tracked)
            use_batch_stats = training or self.running_mean is None
            x = F.batch_norm(x, self.running_mean, self.running_var, self.bn_weight,
                             self.bn_bias, use_batch_stats, 0.0 if factor is None else factor,
                             self.eps)
        return F.relu(x) if self.relu else x


@dataclass
class DenseResult:
    """Output of :func:`dense_pointdistiller_loss`.

    Attributes:
        loss (Tensor): scalar loss.
        selection (list[dict]): per sample ``index`` (N_b,) and ``weight`` (N_b,).
        knn (list[Tensor | None]): per sample (N_b, K_b) neighbour indices (sample-local).
    """
    loss: Tensor
    selection: List[Dict[str, Tensor]] = field(default_factory=list)
    knn: List[Optional[Tensor]] = field(default_factory=list)


def square_distance(src: Tensor, dst: Tensor) -> Tensor:
    """Squared Euclidean distances as in the original ``kd_utils.square_distance``.

    Args:
        src (Tensor): (N, C). dst (Tensor): (M, C).

    Returns:
        Tensor: (N, M).
    """
    dist = -2 * torch.matmul(src, dst.t())
    dist += torch.sum(src**2, -1).view(-1, 1)
    dist += torch.sum(dst**2, -1).view(1, -1)
    return dist


def dense_pointdistiller_loss(teacher_feat: Tensor,
                              student_feat: Tensor,
                              teacher_adapter: DenseAdapter,
                              student_adapter: DenseAdapter,
                              *,
                              feature_layout: str,
                              num_queries: int,
                              num_neighbors: int,
                              score: str,
                              temperature: float,
                              reweight: bool,
                              local: bool,
                              pool: str,
                              loss_weight: float,
                              training: bool,
                              batch_idx: Optional[Tensor] = None,
                              num_points: Optional[Tensor] = None) -> DenseResult:
    """Dense PointDistiller loss (see module docstring; same arguments as the module).

    Args:
        teacher_feat (Tensor): voxel (M, C_T) / bev (B, C_T, H, W) / point (B, C_T, P).
        student_feat (Tensor): same layout with C_S channels.
        teacher_adapter, student_adapter (DenseAdapter): adapter tensors.
        batch_idx (Tensor, optional): (M,) sample of each voxel (voxel layout).
        num_points (Tensor, optional): (M,) points per voxel (``score='num_points'``).

    Returns:
        DenseResult: loss, selection and kNN indices.
    """
    dtype = teacher_adapter.weight.dtype
    teacher_feat = teacher_feat.detach().to(dtype)
    student_feat_c = student_feat.to(dtype)
    # ---- split into samples: (M_b, C) rows, (M_b,) score, (M_b,) reported index
    samples = []
    if feature_layout == 'voxel':
        num_samples = int(batch_idx.max()) + 1 if batch_idx.numel() else 0
        for b in range(num_samples):
            rows = torch.nonzero(batch_idx == b, as_tuple=False).view(-1)
            xt, xs = teacher_feat[rows], student_feat_c[rows]
            s = num_points[rows].to(dtype) if score == 'num_points' else xt.max(dim=1).values
            samples.append((xt, xs, s, rows))
    else:
        for b in range(teacher_feat.shape[0]):
            xt = teacher_feat[b].reshape(teacher_feat.shape[1], -1).t()
            xs = student_feat_c[b].reshape(student_feat_c.shape[1], -1).t()
            s = xt.max(dim=1).values if xt.shape[0] else xt.new_zeros(0)
            samples.append((xt, xs, s, torch.arange(xt.shape[0], device=xt.device)))

    # ---- per sample: top-N, dense kNN, explicit edge tensors, conv
    conv_t, conv_s, sel_idx, sel_score, knns = [], [], [], [], []
    for xt, xs, s, rows in samples:
        m = xt.shape[0]
        n = min(num_queries, m)
        if n == 0:
            sel_idx.append(rows[:0])
            sel_score.append(s[:0])
            knns.append(None)
            continue
        idx = torch.topk(s, n, sorted=True).indices
        q_t, q_s = xt[idx], xs[idx]  # (n, C)
        if local:
            k = min(num_neighbors, m)
            dist = square_distance(q_t, xt)  # (n, M) — the whole matrix at once
            dist[torch.arange(n, device=dist.device), idx] = float('-inf')  # centre is node 0
            knn = torch.topk(dist, k, dim=1, largest=False, sorted=True).indices  # (n, k)
            edge_t = torch.cat([xt[knn], q_t.unsqueeze(1).repeat(1, k, 1)], dim=-1)  # (n,k,2C)
            edge_s = torch.cat([xs[knn], q_s.unsqueeze(1).repeat(1, k, 1)], dim=-1)
            edge_t = edge_t.permute(2, 0, 1).unsqueeze(0).contiguous()  # (1, 2C_T, n, k)
            edge_s = edge_s.permute(2, 0, 1).unsqueeze(0).contiguous()
            knns.append(knn)
        else:
            edge_t = q_t.t()[None, :, :, None]  # (1, C_T, n, 1)
            edge_s = q_s.t()[None, :, :, None]
            knns.append(None)
        conv_t.append(teacher_adapter.conv(edge_t))  # (1, C', n, k)
        conv_s.append(student_adapter.conv(edge_s))
        sel_idx.append(rows[idx])
        sel_score.append(s[idx])

    total_sel = sum(c.shape[2] for c in conv_t)
    total_pos = sum(c.shape[2] * c.shape[3] for c in conv_t)
    if total_sel == 0 or (training and (teacher_adapter.has_norm or student_adapter.has_norm)
                          and total_pos < 2):
        return DenseResult(
            loss=student_feat.sum().to(dtype) * 0,
            selection=[dict(index=i, weight=teacher_feat.new_zeros(0)) for i in sel_idx],
            knn=knns)

    # ---- BN over all samples' positions: (B, C', N, K) when shapes agree
    shapes = {tuple(c.shape) for c in conv_t}
    if len(shapes) == 1:
        graph_t = [teacher_adapter.norm_act(torch.cat(conv_t), training)]
        graph_s = [student_adapter.norm_act(torch.cat(conv_s), training)]
    else:  # ragged: positions of all samples side by side in one (1, C', L, 1) batch
        flat_t = torch.cat([c.flatten(2) for c in conv_t], dim=2).unsqueeze(-1)
        flat_s = torch.cat([c.flatten(2) for c in conv_s], dim=2).unsqueeze(-1)
        flat_t = teacher_adapter.norm_act(flat_t, training).squeeze(-1)  # (1, C', L)
        flat_s = student_adapter.norm_act(flat_s, training).squeeze(-1)
        sizes = [c.shape[2] * c.shape[3] for c in conv_t]
        graph_t = [g.view(1, -1, c.shape[2], c.shape[3])
                   for g, c in zip(flat_t.split(sizes, dim=2), conv_t)]
        graph_s = [g.view(1, -1, c.shape[2], c.shape[3])
                   for g, c in zip(flat_s.split(sizes, dim=2), conv_s)]
    if local and pool == 'max':
        graph_t = [g.max(dim=-1, keepdim=True).values for g in graph_t]  # (B, C', N, 1)
        graph_s = [g.max(dim=-1, keepdim=True).values for g in graph_s]

    # ---- weights (B, N) and weighted mean
    if feature_layout == 'voxel':
        wscore = [s for s in sel_score if s.numel()]
    else:
        wscore = [row for g in graph_t for row in g.detach().amax(dim=(1, 3))]  # per sample (N,)
    if reweight:
        weights = [w.numel() * F.softmax(w / temperature, dim=0) for w in wscore]
    else:
        weights = [torch.ones_like(w) for w in wscore]
    if len(graph_t) == 1:  # original style: mean over (B, C', N, K) of w * (G_T - G_S)^2
        w = torch.stack(weights).view(graph_t[0].shape[0], 1, -1, 1)
        loss = (F.mse_loss(graph_s[0], graph_t[0], reduction='none') * w).mean()
    else:
        loss = sum((w.view(1, 1, -1, 1) * (gt - gs)**2).sum() / (gt.shape[1] * gt.shape[3])
                   for w, gt, gs in zip(weights, graph_t, graph_s)) / total_sel
    weights_iter = iter(weights)
    selection = [dict(index=i, weight=next(weights_iter) if i.numel() else
                      teacher_feat.new_zeros(0)) for i in sel_idx]
    return DenseResult(loss=loss * loss_weight, selection=selection, knn=knns)


def dense_reference_from_module(module, teacher_feat: Tensor, student_feat: Tensor,
                                batch_idx: Optional[Tensor] = None,
                                num_points: Optional[Tensor] = None):
    """Run the dense reference with the hyper-parameters and adapter tensors of a module.

    The module's running statistics are copied (not modified); the returned adapters carry
    the reference's updated copies.

    Args:
        module (PointDistillerLoss): the module whose parameters are used.
        teacher_feat, student_feat, batch_idx, num_points: as in ``module.forward``.

    Returns:
        tuple[DenseResult, DenseAdapter, DenseAdapter]: result, teacher and student adapters.
    """
    t_adapter = DenseAdapter.from_conv_module(module.teacher_adapter)
    s_adapter = DenseAdapter.from_conv_module(module.student_adapter)
    result = dense_pointdistiller_loss(
        teacher_feat, student_feat, t_adapter, s_adapter,
        feature_layout=module.feature_layout, num_queries=module.num_queries,
        num_neighbors=module.num_neighbors, score=module.score,
        temperature=module.temperature, reweight=module.reweight, local=module.local,
        pool=module.pool, loss_weight=module.loss_weight, training=module.training,
        batch_idx=batch_idx, num_points=num_points)
    return result, t_adapter, s_adapter


def dense_batchwide_reference(module, teacher_feat: Tensor, student_feat: Tensor,
                              batch_idx: Optional[Tensor] = None,
                              num_points: Optional[Tensor] = None):
    """Dense reference of ``PointDistillerLoss(sampling='batch')``, the released KITTI
    PointPillars code's pooling: the whole batch is one sample (top-N over all elements of
    all scenes, kNN candidates across scenes, one softmax over the N queries).

    The batch is merged into a single sample before the dense computation (voxel layout:
    every ``batch_idx`` set to 0; bev (B, C, H, W) -> (1, C, B*H, W); point (B, C, P) ->
    (1, C, B*P)), so the flat element index of the merged sample is ``b * M + m`` for maps.
    The selection is then split back per sample with the module's reported indices (row of
    ``teacher_feat`` for voxels, ``h * W + w`` / point index within the sample for maps).

    Returns:
        tuple[DenseResult, DenseAdapter, DenseAdapter]: as :func:`dense_reference_from_module`,
        with ``selection`` per sample.
    """
    layout = module.feature_layout
    if layout == 'voxel':
        merged = (teacher_feat, student_feat, torch.zeros_like(batch_idx), num_points)
        sample_of_elem = batch_idx.long()
        local_index = torch.arange(batch_idx.numel(), device=batch_idx.device)
        num_samples = int(batch_idx.max()) + 1 if batch_idx.numel() else 0
    else:
        b, c = teacher_feat.shape[:2]
        per_sample = math.prod(teacher_feat.shape[2:])
        if layout == 'bev':
            h, w = teacher_feat.shape[2:]
            merged_t = teacher_feat.transpose(0, 1).reshape(1, c, b * h, w)
            merged_s = student_feat.transpose(0, 1).reshape(1, student_feat.shape[1], b * h, w)
        else:
            merged_t = teacher_feat.transpose(0, 1).reshape(1, c, -1)
            merged_s = student_feat.transpose(0, 1).reshape(1, student_feat.shape[1], -1)
        merged = (merged_t, merged_s, None, None)
        flat = torch.arange(b * per_sample, device=teacher_feat.device)
        sample_of_elem, local_index = flat // per_sample, flat % per_sample
        num_samples = b
    result, t_adapter, s_adapter = dense_reference_from_module(module, *merged)
    sel = result.selection[0] if result.selection else None
    selection = []
    for s in range(num_samples):
        if sel is None:
            selection.append(dict(index=local_index[:0], weight=teacher_feat.new_zeros(0)))
            continue
        mask = sample_of_elem[sel['index']] == s
        selection.append(dict(index=local_index[sel['index'][mask]],
                              weight=sel['weight'][mask]))
    result.selection = selection
    return result, t_adapter, s_adapter
