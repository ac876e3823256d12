"""The 1x1 edge adapters of :class:`PointDistillerLoss` applied without materialising edges.

An adapter ``gamma`` is an mmcv ``ConvModule`` (1x1 Conv + optional BN2d + optional
activation) over edge features ``e_ik = cat(x_j(i,k), x_i)``. Its conv splits as
``W e_ik = W1 x_j + W2 x_i``, so every element is projected once and an edge output is a
gather plus a broadcast add (:func:`~.graph_ops.gather_edge_projection`).

:func:`build_edge_adapters` builds the two adapters for a choice of teacher-side projection
(``PointDistillerLoss(teacher_projection=...)``); :class:`OutputStats` measures what the
adapters output (variance, active fraction), the collapse diagnostics of
``DistillStatsHook``.

Notation used in the shapes below:

* ``M_b``  candidate elements of sample ``b``, ``N_b`` its queries, ``K_b`` nodes per query,
* ``L``    edge positions of the batch (``sum_b N_b K_b``),
* ``C``    feature channels, ``C'`` adapter output channels.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch import Tensor

from .graph_ops import gather_edge_projection

__all__ = ['TEACHER_PROJECTIONS', 'build_edge_adapters', 'edge_identity_weight',
           'split_edge_projection', 'adapter_norm_act', 'segment_max_over_k', 'OutputStats',
           'graph_mse_autograd']

#: teacher-side projections gamma_T of ``PointDistillerLoss(teacher_projection=...)``
TEACHER_PROJECTIONS = ('adapter', 'normalised', 'edge')


def edge_identity_weight(channels: int, local: bool) -> Tensor:
    """The fixed 1x1 conv weight that maps ``cat(x_j, x_i)`` to ``cat(x_j - x_i, x_i)``.

    Args:
        channels (int): C, channels of ``x``.
        local (bool): False: the input is ``x_i`` alone and the weight is the identity.

    Returns:
        Tensor: (2C, 2C, 1, 1) (``local``) or (C, C, 1, 1), rows = output channels:
        ``[[I, -I], [0, I]]``.
    """
    eye = torch.eye(channels)
    if not local:
        return eye[:, :, None, None].clone()
    top = torch.cat([eye, -eye], dim=1)
    bottom = torch.cat([torch.zeros_like(eye), eye], dim=1)
    return torch.cat([top, bottom], dim=0)[:, :, None, None].contiguous()


def build_edge_adapters(teacher_channels: int, student_channels: int, adapter_channels: int,
                        local: bool, norm_cfg: Optional[dict], act_cfg: Optional[dict],
                        teacher_projection: str, teacher_trainable: bool
                        ) -> Tuple[ConvModule, ConvModule]:
    """The teacher-side projection gamma_T and the student adapter gamma_S.

    ``teacher_projection``:

    * ``'adapter'`` (paper, released code): both are 1x1 conv + ``norm_cfg`` + ``act_cfg``.
      Trained together on their own squared difference they admit a trivial zero (both
      output the same constant: BN scale -> 0 and shift <= 0 before the ReLU).
    * ``'normalised'``: gamma_T is a 1x1 conv followed by the norm of ``norm_cfg`` without
      affine parameters and no activation: every output channel has zero mean and unit
      variance over the batch's edges, so the target cannot be a constant (Miles &
      Mikolajczyk, *Understanding the Role of the Projector in Knowledge Distillation*,
      AAAI 2024). gamma_S is 1x1 conv + ``norm_cfg`` (affine) and must have no activation.
      A *trainable* conv can still collapse in dimension: it rotates every unit-variance
      channel onto one direction the student already predicts (measured in training: one
      effective dimension of 16 after 1500 iterations); frozen
      (``teacher_trainable=False``, the shipped configs) it cannot.
    * ``'edge'``: no teacher parameters; G_T is the teacher's edge feature
      ``cat(x_j - x_i, x_i)`` (a fixed conv of :func:`edge_identity_weight`) standardised by
      the norm of ``norm_cfg`` without affine parameters (running statistics only; none if
      ``norm_cfg`` is None), so that its scale does not depend on the tap; gamma_S regresses
      it (FitNets' student-side regressor on the graph); ``adapter_channels`` must be
      ``2 C_T`` (``C_T`` when not local), no activation.

    ``teacher_trainable=False`` freezes gamma_T (for ``'edge'`` it is always frozen).

    Raises:
        ValueError: naming the ``PointDistillerLoss`` argument that is inconsistent.
    """
    factor = 2 if local else 1
    t_in, s_in = factor * teacher_channels, factor * student_channels
    if teacher_projection != 'adapter' and act_cfg is not None:
        raise ValueError(
            f"teacher_projection={teacher_projection!r} gives targets of both signs, which an "
            f"adapter with an activation cannot reach: set act_cfg=None (got {act_cfg!r})")
    if teacher_projection == 'adapter':
        teacher = ConvModule(t_in, adapter_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
    elif teacher_projection == 'normalised':
        if norm_cfg is None:
            raise ValueError("teacher_projection='normalised' normalises the teacher side with "
                             'norm_cfg without affine parameters: norm_cfg must not be None')
        teacher = ConvModule(t_in, adapter_channels, 1, norm_cfg=dict(norm_cfg, affine=False),
                             act_cfg=None)
    else:
        if adapter_channels != t_in:
            raise ValueError(
                f"teacher_projection='edge' compares the student with the teacher's edge "
                f'features cat(x_j - x_i, x_i) of {t_in} channels: set adapter_channels={t_in}'
                f' (got {adapter_channels})')
        teacher = ConvModule(t_in, t_in, 1, bias=False, act_cfg=None, norm_cfg=None if
                             norm_cfg is None else dict(norm_cfg, affine=False))
        teacher_trainable = False
        with torch.no_grad():
            teacher.conv.weight.copy_(edge_identity_weight(teacher_channels, local))
    student = ConvModule(s_in, adapter_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
    if not teacher_trainable:
        teacher.requires_grad_(False)
    return teacher, student


def split_edge_projection(adapter: ConvModule, feats: Tensor, sel: Tensor
                          ) -> Tuple[Tensor, Tensor]:
    """Split 1x1 conv over cat(x_j, x_i): ``W1 x_j`` for all rows, ``W2 x_i + b`` for queries.

    Args:
        adapter (ConvModule): the adapter, conv weight (C', 2C, 1, 1).
        feats (Tensor): (sum M_b, C) all elements.
        sel (Tensor): (sum N_b,) long rows of the queries.

    Returns:
        tuple[Tensor, Tensor]: (sum M_b, C') neighbour-side and (sum N_b, C') centre-side
        projections.
    """
    channels = feats.shape[1]
    weight = adapter.conv.weight.flatten(1)  # (C', 2C)
    proj_nbr = feats @ weight[:, :channels].t()
    proj_ctr = feats.index_select(0, sel) @ weight[:, channels:].t()
    if adapter.conv.bias is not None:
        proj_ctr = proj_ctr + adapter.conv.bias
    return proj_nbr, proj_ctr


def adapter_norm_act(adapter: ConvModule, edge: Tensor) -> Tensor:
    """Apply the adapter's norm (all rows form one batch) and its activation.

    The rows are transposed to a contiguous (1, C', L, 1) NCHW tensor, the layout of the
    dense (B, C', N, K) edge-conv output (the CPU channels-last BN kernel accumulates its
    statistics in lower precision).

    Args:
        adapter (ConvModule): the adapter whose ``norm`` / ``activate`` are applied.
        edge (Tensor): (L, C') conv outputs, one row per edge position.

    Returns:
        Tensor: (C', L) channel-major adapter outputs.
    """
    num_pos, channels = edge.shape
    edge4 = edge.t().contiguous().view(1, channels, num_pos, 1)
    if adapter.with_norm:
        edge4 = adapter.norm(edge4)
    if adapter.with_activation:
        edge4 = adapter.activate(edge4)
    return edge4.view(channels, num_pos)


def segment_max_over_k(graph: Tensor, num_sel: Sequence[int], num_nbr: Sequence[int]
                       ) -> Tensor:
    """Max over each query's ``K_b`` edges.

    Args:
        graph (Tensor): (C', L) channel-major edge features, edges query-major.
        num_sel (Sequence[int]): N_b per (non-empty) sample.
        num_nbr (Sequence[int]): K_b per (non-empty) sample.

    Returns:
        Tensor: (C', sum N_b) pooled features.
    """
    channels = graph.shape[0]
    if len(set(num_nbr)) == 1:
        return graph.view(channels, sum(num_sel), num_nbr[0]).amax(dim=2)
    pooled, start = [], 0
    for n, k in zip(num_sel, num_nbr):
        pooled.append(graph[:, start:start + n * k].reshape(channels, n, k).amax(dim=2))
        start += n * k
    return torch.cat(pooled, dim=1)


class OutputStats:
    """Measured statistics of the adapter outputs G_T / G_S over one forward (all edges of
    the batch, before any max-pooling): accumulated chunk by chunk in float64.

    :meth:`result` gives, per side ``t`` / ``s``: ``out_var_<side>`` the mean over the C'
    channels of each channel's variance over the edges, ``out_active_<side>`` the fraction
    of outputs that are non-zero (after a ReLU: the live units; 1.0 without activation), and
    ``out_dims_<side>`` the participation ratio ``tr(S)^2 / tr(S^2)`` of the outputs'
    C' x C' covariance ``S`` (1 when every channel carries the same signal, C' when all
    carry independent signals of equal variance): a loss can vanish with unit-variance
    channels if they all copy one direction the student already predicts. The covariance
    uses the first ``rank_rows`` edges of the forward.
    """

    def __init__(self, rank_rows: int = 8192) -> None:
        self.rank_rows = rank_rows
        self._sums: Dict[str, list] = {}
        self._gram: Dict[str, list] = {}

    def add(self, side: str, rows: Tensor) -> None:
        """Accumulate ``rows`` (..., C') adapter outputs of ``side`` ('t' or 's')."""
        flat = rows.detach().reshape(-1, rows.shape[-1]).double()
        acc = self._sums.setdefault(side, [0, 0.0, 0.0, 0])
        acc[0] += flat.shape[0]
        acc[1] = acc[1] + flat.sum(dim=0)
        acc[2] = acc[2] + flat.square().sum(dim=0)
        acc[3] += int(torch.count_nonzero(flat))
        gram = self._gram.setdefault(side, [0, 0.0, 0.0])
        take = flat[:max(0, self.rank_rows - gram[0])]
        if take.shape[0]:
            gram[0] += take.shape[0]
            gram[1] = gram[1] + take.sum(dim=0)
            gram[2] = gram[2] + take.t() @ take

    def result(self) -> Dict[str, float]:
        """``out_var_<side>``, ``out_active_<side>``, ``out_dims_<side>`` of what was added
        (empty if nothing was)."""
        out = {}
        for side, (n, s1, s2, nonzero) in self._sums.items():
            if n == 0:
                continue
            mean = s1 / n
            out[f'out_var_{side}'] = float((s2 / n - mean.square()).clamp_min(0).mean())
            out[f'out_active_{side}'] = nonzero / (n * s1.numel())
            m, g1, g2 = self._gram[side]
            if m > 1:
                mu = g1 / m
                cov = g2 / m - torch.outer(mu, mu)
                denom = float(cov.square().sum())
                out[f'out_dims_{side}'] = float(cov.trace()) ** 2 / denom if denom > 0 else 0.0
        return out


def graph_mse_autograd(teacher_adapter: ConvModule, student_adapter: ConvModule,
                       teacher: Tensor, student: Tensor, sel_all: Tensor,
                       nbr_list: List[Optional[Tensor]], sel_counts: List[int],
                       nbr_counts: List[int], local: bool, pool: str,
                       stats: Optional[OutputStats]) -> Tuple[Tensor, Tensor]:
    """Per-query MSE (sum N_b,) and detached teacher max (sum N_b,) with plain autograd.

    Materialises the (C', sum N_b K_b) adapter outputs (never the (N, K, 2C) edges); used
    for ``local=False`` and for adapters the fused operator does not cover (SyncBN,
    activations other than ReLU), and as the reference of the fused and closed-form paths.

    Args:
        teacher_adapter, student_adapter (ConvModule): gamma_T and gamma_S.
        teacher, student (Tensor): (sum M_b, C_T) and (sum M_b, C_S) all elements.
        sel_all (Tensor): (sum N_b,) long rows of the queries, sample by sample.
        nbr_list (list[Tensor]): per non-empty sample (N_b, K_b) long global rows
            (unused when not ``local``).
        sel_counts, nbr_counts (list[int]): N_b and K_b per non-empty sample.
        local (bool): graphs of K_b nodes (True) or the centre alone.
        pool (str): 'none' or 'max' (over K).
        stats (OutputStats, optional): accumulates the adapter outputs (before pooling).

    Returns:
        tuple[Tensor, Tensor]: ``per_query`` (sum N_b,) mean over (K_b, C') (or C' after
        pooling) of (G_T - G_S)^2 and the detached ``teacher_max`` (sum N_b,).
    """
    total_sel = sel_all.shape[0]
    channels = student_adapter.conv.out_channels
    ctr = None
    if not local:  # K = 1: gamma(x_i)
        graph = []
        for adapter, feats in ((teacher_adapter, teacher),
                               (student_adapter, student)):
            out = feats.index_select(0, sel_all) @ adapter.conv.weight.flatten(1).t()
            if adapter.conv.bias is not None:
                out = out + adapter.conv.bias
            graph.append(adapter_norm_act(adapter, out))
        graph_t, graph_s = graph
    else:
        k_per_query = torch.repeat_interleave(
            torch.tensor(nbr_counts, device=sel_all.device),
            torch.tensor(sel_counts, device=sel_all.device))  # (sum N_b,)
        if len(set(nbr_counts)) > 1:  # ragged: flat (L,) edges
            nbr = torch.cat([n.reshape(-1) for n in nbr_list])
            ctr = torch.repeat_interleave(torch.arange(total_sel, device=sel_all.device),
                                          k_per_query)
        else:
            nbr = torch.cat(nbr_list)  # (sum N_b, K)
        graph_t = adapter_norm_act(teacher_adapter, gather_edge_projection(
            *split_edge_projection(teacher_adapter, teacher, sel_all), nbr, ctr))
        graph_s = adapter_norm_act(student_adapter, gather_edge_projection(
            *split_edge_projection(student_adapter, student, sel_all), nbr, ctr))
    if stats is not None:
        stats.add('t', graph_t.t())
        stats.add('s', graph_s.t())
    if local and pool == 'max':
        graph_t = segment_max_over_k(graph_t, sel_counts, nbr_counts)
        graph_s = segment_max_over_k(graph_s, sel_counts, nbr_counts)
        ctr = None  # now (C', sum N_b)
    # graph_*: (C', L) channel-major, edges query-major, or (C', sum N_b)
    sq = F.mse_loss(graph_s, graph_t, reduction='none').sum(dim=0)
    with torch.no_grad():
        col_max = graph_t.amax(dim=0)
    if ctr is None:  # the same number of columns per query
        per_query = sq.view(total_sel, -1).sum(dim=1) / (sq.numel() // total_sel * channels)
        teacher_max = col_max.view(total_sel, -1).amax(dim=1)
    else:
        per_query = sq.new_zeros(total_sel).index_add_(0, ctr, sq)
        per_query = per_query / (k_per_query.to(sq.dtype) * channels)
        teacher_max = col_max.new_full((total_sel, ), float('-inf')).scatter_reduce_(
            0, ctr, col_max, reduce='amax')
    return per_query, teacher_max
