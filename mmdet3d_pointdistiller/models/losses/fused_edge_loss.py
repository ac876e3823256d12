"""Memory-bounded fused "edge gather -> BatchNorm -> ReLU -> (max over K) -> MSE" operator.

The plain autograd graph of the edge adapters keeps several (sum_b N_b K_b, C') tensors alive
until backward (BN input, ReLU output and their gradients, for teacher and student: about
100 MB each at PointPillars scale, N=6000, K=128, C'=32). This operator only keeps tensors
of the size of the projections, (M, C') and (Nq, C'), and recomputes the edge activations
in chunks of queries.

Notation (one side, teacher or student): the pre-norm edge feature of edge ``e = (i, k)`` is
``z_e = P_j + Q_i`` with ``j = nbr(i, k)`` (``P = X W1^T``, ``Q = X_q W2^T + bias``); the
adapter output is ``y_e = relu(scale * z_e + shift)`` with ``scale = gamma * invstd`` and
``shift = beta - mean * scale``. Everything the BatchNorm needs is a reduction that can be
written with per-row quantities:

* ``cnt_j``  number of edges whose neighbour is ``j``;          (M,)
* ``S_i = sum_k P_nbr(i,k)``  (one ``embedding_bag``);             (Nq, C')
* ``R_j = sum_{e -> j} Q_ctr(e)`` (one ``embedding_bag``, backward); (M, C')
* ``mean = (sum_j cnt_j P_j + sum_i K_i Q_i) / L``;
* ``L var = sum_j cnt_j (P_j - mean)^2 + sum_i K_i (Q_i - mean)^2
  + 2 sum_i (Q_i - mean) (S_i - K_i mean)``, evaluated about a provisional centre ``m0``
  (the weighted mean in the projections' dtype; the exact mean and variance follow from the
  centred moments, summed in float64), so that no term cancels however large the mean;
* with ``g_e = dLoss/du_e`` (after the ReLU mask), ``G_j = sum_{e->j} g_e``,
  ``H_i = sum_k g_(i,k)``:  ``d beta = sum_i H_i``,
  ``d gamma = invstd (sum_j G_j (P_j - mean) + sum_i H_i Q_i)``, and with
  ``a = d beta / L``, ``b = d gamma / L`` (batch statistics)
  ``dP_j = scale (G_j - cnt_j a - b invstd (cnt_j (P_j - mean) + R_j))``,
  ``dQ_i = scale (H_i - K_i a - b invstd (K_i (Q_i - mean) + S_i))``;
  with running statistics simply ``dP = scale G``, ``dQ = scale H``.

Passes over the edges: forward 1 gather-sum for the statistics (training) + 1 chunked pass
for the loss; backward 1 chunked pass (recompute, mask, one scatter of ``g`` per side) + 1
gather-sum of ``Q`` per side (:class:`EdgeIndex` does the gather-sums).

The BatchNorm follows ``torch.nn.BatchNorm2d`` over the dense (B, C', N, K) edge-conv output
exactly: batch statistics (biased variance) when the BN module is training (or has no
running statistics), running statistics otherwise; in training the running statistics are
updated once per call with the unbiased variance, ``momentum`` (cumulative average when
``momentum=None``) and ``num_batches_tracked``. Tests compare it with ``F.batch_norm``.

Shapes: ``M`` = all candidate elements (all samples), ``Nq`` = all queries, ``C'`` = adapter
channels, ``K_i`` = graph size of query ``i``, ``L = sum_i K_i``.
"""
from typing import List, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm


class EdgeChunk(NamedTuple):
    """Queries ``[q0, q1)`` (global query rows) of one sample, all with ``k`` nodes."""
    q0: int
    q1: int
    index: Tensor  # ((q1 - q0) * k,) long rows of the projections, query-major
    k: int


def make_chunks(nbr_list: List[Tensor], chunk_size: int) -> List[EdgeChunk]:
    """Split per-sample (N_b, K_b) neighbour indices into query chunks of uniform K."""
    chunks, q_off = [], 0
    for nbr in nbr_list:
        n, k = nbr.shape
        for s in range(0, n, chunk_size):
            e = min(s + chunk_size, n)
            chunks.append(EdgeChunk(q_off + s, q_off + e, nbr[s:e].reshape(-1), k))
        q_off += n
    return chunks


class EdgeIndex:
    """The edges of all chunks as bags for :func:`torch.nn.functional.embedding_bag`, which
    gathers and sums rows in one pass without materialising the (L, C') gathered rows.

    * ``flat`` (L,) neighbour row of every edge, query-major; ``k_q`` (Nq,) graph sizes;
      ``cnt`` (M,) edges per neighbour row;
    * :meth:`sum_over_k`: ``X`` (M, C) -> (Nq, C), ``sum_k X_nbr(i,k)``;
    * :meth:`sum_onto_rows`: ``Y`` (Nq, C) -> (M, C), ``sum_{e -> j} Y_ctr(e)`` (edges
      regrouped by neighbour row once, on first use).
    """

    def __init__(self, chunks: List[EdgeChunk], num_rows: int, num_query: int,
                 device: torch.device):
        self.flat = torch.cat([ch.index for ch in chunks])
        self.cnt = torch.bincount(self.flat, minlength=num_rows)
        self.k_q = torch.empty(num_query, dtype=torch.long, device=device)
        for ch in chunks:
            self.k_q[ch.q0:ch.q1] = ch.k
        self.num_edges = self.flat.numel()
        self.max_edges = max(ch.index.numel() for ch in chunks)
        self._query_offsets = self.k_q.cumsum(0) - self.k_q
        self._by_row = None

    def sum_over_k(self, rows: Tensor) -> Tensor:
        return F.embedding_bag(self.flat, rows, self._query_offsets, mode='sum')

    def sum_onto_rows(self, query_rows: Tensor) -> Tensor:
        if self._by_row is None:
            order = torch.argsort(self.flat, stable=True)
            query_of_edge = torch.repeat_interleave(
                torch.arange(self.k_q.numel(), device=self.flat.device), self.k_q)
            self._by_row = (query_of_edge[order], self.cnt.cumsum(0) - self.cnt)
        return F.embedding_bag(self._by_row[0], query_rows, self._by_row[1], mode='sum')


def _relu_mask_(grad: Tensor, out_of_relu: Tensor, out: Tensor) -> Tensor:
    """``out = grad * (out_of_relu > 0)`` in one kernel (ReLU's own backward), no allocation."""
    return torch.ops.aten.threshold_backward.grad_input(grad, out_of_relu, 0, grad_input=out)


class _Side:
    """Per-side (teacher or student) state of the fused operator."""

    def __init__(self, proj_nbr: Tensor, proj_ctr: Tensor, norm: Optional[_BatchNorm],
                 gamma: Optional[Tensor], beta: Optional[Tensor]):
        self.proj_nbr, self.proj_ctr = proj_nbr, proj_ctr
        self.norm, self.gamma, self.beta = norm, gamma, beta
        self.batch_stats = False
        self.mean = self.invstd = self.scale = None
        self.sum_nbr = None  # S (Nq, C'), batch statistics only
        self.nbr_t, self.ctr_t = proj_nbr, proj_ctr  # scaled/shifted projections

    def prepare(self, edges: 'EdgeIndex'):
        """Statistics, running-stat update and the scaled projections (see module doc)."""
        norm = self.norm
        if norm is None:
            return
        dtype = self.proj_nbr.dtype
        eaf = 0.0 if norm.momentum is None else norm.momentum
        if norm.training and norm.track_running_stats and norm.num_batches_tracked is not None:
            norm.num_batches_tracked.add_(1)
            eaf = (1.0 / float(norm.num_batches_tracked)
                   if norm.momentum is None else norm.momentum)
        self.batch_stats = norm.training or (norm.running_mean is None
                                             and norm.running_var is None)
        if self.batch_stats:
            num_edges = edges.num_edges
            if num_edges < 2:
                raise ValueError('Expected more than 1 value per channel when training, '
                                 f'got {num_edges} edge positions')
            # moments about a provisional centre m0 = mp + mq (each side's edge-weighted mean,
            # in the projections' dtype): z_e - m0 = (P_j - mp) + (Q_i - mq), so the sums
            # below are of centred values, however large the mean of either side
            p_rows, q_rows = self.proj_nbr, self.proj_ctr
            cnt, k_q = edges.cnt.to(dtype), edges.k_q.to(dtype)
            m_p, m_q = cnt @ p_rows / num_edges, k_q @ q_rows / num_edges
            p_c, q_c = p_rows - m_p, q_rows - m_q
            s_c = edges.sum_over_k(p_c)  # S_i - K_i mp (Nq, C')
            mu_c = (cnt.double() @ p_c.double() + k_q.double() @ q_c.double()) / num_edges
            second = (cnt.double() @ p_c.double().square() + k_q.double() @ q_c.double().square()
                      + 2 * (q_c.double() * s_c.double()).sum(dim=0)) / num_edges
            mean64 = (m_p + m_q).double() + mu_c
            var64 = (second - mu_c.square()).clamp_min(0)
            if norm.training and norm.running_mean is not None:
                norm.running_mean.mul_(1 - eaf).add_(mean64.to(dtype), alpha=eaf)
                norm.running_var.mul_(1 - eaf).add_(
                    (var64 * (num_edges / (num_edges - 1))).to(dtype), alpha=eaf)
            self.mean = mean64.to(dtype)
            self.invstd = (var64 + norm.eps).rsqrt().to(dtype)
            self.sum_nbr = s_c + k_q.unsqueeze(1) * m_p  # S (Nq, C')
        else:
            self.mean = norm.running_mean.to(dtype)
            self.invstd = (norm.running_var.to(dtype) + norm.eps).rsqrt()
        self.scale = self.invstd if self.gamma is None else self.gamma * self.invstd
        shift = -self.mean * self.scale
        if self.beta is not None:
            shift = shift + self.beta
        self.nbr_t = self.proj_nbr * self.scale
        self.ctr_t = torch.addcmul(shift, self.proj_ctr, self.scale)

    def activation(self, chunk: EdgeChunk, relu: bool, buf: Tensor) -> Tensor:
        """Adapter output of one chunk, written into ``buf`` (>= E rows): (c, k, C')."""
        u = torch.index_select(self.nbr_t, 0, chunk.index, out=buf[:chunk.index.numel()])
        u = u.view(chunk.q1 - chunk.q0, chunk.k, -1)
        u += self.ctr_t[chunk.q0:chunk.q1].unsqueeze(1)
        return u.clamp_min_(0) if relu else u


def _workspace(like: Tensor, rows: int, count: int) -> List[Tensor]:
    """``count`` (rows, C') buffers reused by every chunk (avoids one fresh allocation and its
    page faults per chunk and operation)."""
    return [like.new_empty((rows, like.shape[1])) for _ in range(count)]


def projection_grads(sides, proj, acc_g: List[Optional[Tensor]],
                     acc_h: List[Optional[Tensor]], need: List[bool], want,
                     edges: EdgeIndex) -> List[Optional[Tensor]]:
    """Gradients of the projections and BN affine parameters from the edge-gradient sums.

    Args:
        sides: the two :class:`_Side` (teacher, student) after ``prepare``.
        proj: the saved ``(proj_nbr_t, proj_ctr_t, proj_nbr_s, proj_ctr_s)``.
        acc_g, acc_h: per side ``G`` (M, C') and ``H`` (Nq, C') (module doc), each already
            signed for its side (None where the side needs no gradient).
        need, want: per side whether anything of it needs a gradient; ``needs_input_grad``.
        edges: the forward's :class:`EdgeIndex`.

    Returns:
        list: 13 entries in the order of the operators' inputs (None where not wanted).
    """
    out: List[Optional[Tensor]] = [None] * 13
    dtype = proj[1].dtype
    cnt = edges.cnt.to(dtype).unsqueeze(1)
    k_q = edges.k_q.to(dtype).unsqueeze(1)
    for s, side in enumerate(sides):
        if not need[s]:
            continue
        g_rows, h_rows = acc_g[s], acc_h[s]
        p_rows, q_rows = proj[2 * s], proj[2 * s + 1]
        if side.norm is None:
            d_p, d_q = g_rows, h_rows
        else:
            d_beta = h_rows.sum(dim=0)
            d_gamma = side.invstd * (((p_rows - side.mean) * g_rows).sum(dim=0)
                                     + (q_rows * h_rows).sum(dim=0))
            if side.batch_stats:
                r_rows = edges.sum_onto_rows(q_rows)  # R_j = sum_{e -> j} Q_ctr(e)
                a = d_beta / edges.num_edges
                b = d_gamma * side.invstd / edges.num_edges
                d_p = g_rows - cnt * a - b * (cnt * (p_rows - side.mean) + r_rows)
                d_q = h_rows - k_q * a - b * (k_q * (q_rows - side.mean) + side.sum_nbr)
                d_p, d_q = d_p * side.scale, d_q * side.scale
            else:
                d_p, d_q = g_rows * side.scale, h_rows * side.scale
            if side.gamma is not None and want[4 + 2 * s]:
                out[4 + 2 * s] = d_gamma
            if side.beta is not None and want[5 + 2 * s]:
                out[5 + 2 * s] = d_beta
        out[2 * s] = d_p if want[2 * s] else None
        out[2 * s + 1] = d_q if want[2 * s + 1] else None
    return out


class FusedEdgeGraphMSE(torch.autograd.Function):
    """Per-query MSE between teacher and student graph features (see module docstring).

    Inputs: ``proj_nbr_t`` (M, C'), ``proj_ctr_t`` (Nq, C'), ``proj_nbr_s`` (M, C'),
    ``proj_ctr_s`` (Nq, C'), BN affine ``gamma_t, beta_t, gamma_s, beta_s`` ((C',) or None),
    then non-tensor arguments ``norms`` (teacher, student BN modules or None), ``relu``,
    ``pool`` ('none' | 'max'), ``chunks`` (list of :class:`EdgeChunk`), ``stats``
    (:class:`~.edge_adapters.OutputStats` that measures the adapter outputs, or None).

    Outputs: ``per_query`` (Nq,) mean over (K_i, C') (or over C' after max-pooling over K)
    of (G_T - G_S)^2, differentiable; ``teacher_max`` (Nq,) max over K and C' of G_T,
    non-differentiable.
    """

    @staticmethod
    def forward(ctx, proj_nbr_t, proj_ctr_t, proj_nbr_s, proj_ctr_s, gamma_t, beta_t, gamma_s,
                beta_s, norms, relu, pool, chunks, stats):
        num_query, channels = proj_ctr_t.shape
        edges = EdgeIndex(chunks, proj_nbr_t.shape[0], num_query, proj_ctr_t.device)
        sides = (_Side(proj_nbr_t, proj_ctr_t, norms[0], gamma_t, beta_t),
                 _Side(proj_nbr_s, proj_ctr_s, norms[1], gamma_s, beta_s))
        for side in sides:
            side.prepare(edges)
        per_query = proj_ctr_t.new_empty(num_query)
        teacher_max = proj_ctr_t.new_empty(num_query)
        buf_t, buf_s, buf_d = _workspace(proj_ctr_t, edges.max_edges, 3)
        for ch in chunks:
            y_t = sides[0].activation(ch, relu, buf_t)
            y_s = sides[1].activation(ch, relu, buf_s)
            if stats is not None:
                stats.add('t', y_t)
                stats.add('s', y_s)
            if pool == 'max':
                y_t, y_s = y_t.amax(dim=1), y_s.amax(dim=1)  # (c, C')
                per_query[ch.q0:ch.q1] = (y_t - y_s).square_().sum(dim=1) / channels
                teacher_max[ch.q0:ch.q1] = y_t.amax(dim=1)
            else:
                diff = torch.sub(y_t, y_s, out=buf_d[:ch.index.numel()].view(y_t.shape))
                per_query[ch.q0:ch.q1] = diff.square_().sum(dim=(1, 2)) / (ch.k * channels)
                teacher_max[ch.q0:ch.q1] = y_t.amax(dim=(1, 2))
        ctx.save_for_backward(proj_nbr_t, proj_ctr_t, proj_nbr_s, proj_ctr_s)
        for side in sides:  # the saved tensors hold the projections
            side.proj_nbr = side.proj_ctr = None
        ctx.sides, ctx.edges = sides, edges
        ctx.relu, ctx.pool, ctx.chunks = relu, pool, chunks
        ctx.mark_non_differentiable(teacher_max)
        return per_query, teacher_max

    @staticmethod
    def backward(ctx, grad_per_query, _grad_teacher_max):
        proj = ctx.saved_tensors
        sides, chunks, relu = ctx.sides, ctx.chunks, ctx.relu
        channels = proj[1].shape[1]
        want = ctx.needs_input_grad
        need = [any(want[0:2]) or any(want[4:6]), any(want[2:4]) or any(want[6:8])]
        # dLoss / d(sum of squares of query i): grad_i / (K_i C')  (or / C' after pooling)
        coef = grad_per_query / channels
        if ctx.pool != 'max':
            coef = coef / ctx.edges.k_q.to(coef.dtype)
        acc_g = [torch.zeros_like(proj[2 * s]) if need[s] else None for s in range(2)]  # G
        acc_h = [torch.zeros_like(proj[2 * s + 1]) if need[s] else None for s in range(2)]  # H
        buf_t, buf_s, buf_d, buf_g = _workspace(proj[1], ctx.edges.max_edges, 4)
        for ch in chunks:
            num_e = ch.index.numel()
            y_t = sides[0].activation(ch, relu, buf_t)
            y_s = sides[1].activation(ch, relu, buf_s)
            c2 = 2 * coef[ch.q0:ch.q1].view(-1, 1, 1)
            g_view = buf_g[:num_e].view(y_t.shape)
            if ctx.pool == 'max':
                m_t, m_s = y_t.amax(dim=1, keepdim=True), y_s.amax(dim=1, keepdim=True)
                d = (m_t - m_s).mul_(c2)  # (c, 1, C')
            else:
                d = torch.sub(y_t, y_s, out=buf_d[:num_e].view(y_t.shape)).mul_(c2)
            # g of the student side is -g; the sign is applied to the sums below
            for s, (y, m) in enumerate(((y_t, m_t if ctx.pool == 'max' else None),
                                        (y_s, m_s if ctx.pool == 'max' else None))):
                if not need[s]:
                    continue
                if ctx.pool == 'max':  # amax's gradient: split evenly between tied maxima
                    g = torch.eq(y, m, out=g_view)
                    g.mul_(d / g.sum(dim=1, keepdim=True))
                    if relu:
                        g = _relu_mask_(g, y, g)
                else:
                    g = _relu_mask_(d, y, g_view) if relu else d
                acc_h[s][ch.q0:ch.q1] += g.sum(dim=1)
                acc_g[s].index_add_(0, ch.index, g.view(num_e, channels))
        if need[1]:  # the student side's edge gradient is -g
            acc_g[1].neg_()
            acc_h[1].neg_()
        out = projection_grads(sides, proj, acc_g, acc_h, need, want, ctx.edges)
        return tuple(out)


def fused_edge_graph_mse(proj_nbr_t: Tensor, proj_ctr_t: Tensor, proj_nbr_s: Tensor,
                         proj_ctr_s: Tensor, nbr_list: List[Tensor],
                         norm_t: Optional[_BatchNorm], norm_s: Optional[_BatchNorm],
                         relu: bool, pool: str, chunk_size: int,
                         stats=None) -> Tuple[Tensor, Tensor]:
    """Per-query graph MSE without storing any (sum N_b K_b, C') activation.

    Args:
        proj_nbr_t, proj_nbr_s (Tensor): (M, C') neighbour-side projections ``X W1^T``.
        proj_ctr_t, proj_ctr_s (Tensor): (Nq, C') centre-side projections ``X_q W2^T``
            (+ conv bias), queries ordered sample by sample.
        nbr_list (list[Tensor]): per non-empty sample (N_b, K_b) long rows of the
            projections (global, i.e. already offset).
        norm_t, norm_s (_BatchNorm | None): the adapters' BN modules (running statistics
            are read and, in training, updated in place).
        relu (bool): ReLU after the BN.
        pool (str): 'none' or 'max' (over K).
        chunk_size (int): queries per chunk.
        stats (OutputStats, optional): accumulates the adapter outputs (before pooling).

    Returns:
        tuple[Tensor, Tensor]: ``per_query`` (Nq,) and detached ``teacher_max`` (Nq,).
    """
    chunks = make_chunks(nbr_list, chunk_size)
    return FusedEdgeGraphMSE.apply(
        proj_nbr_t, proj_ctr_t, proj_nbr_s, proj_ctr_s,
        None if norm_t is None else norm_t.weight, None if norm_t is None else norm_t.bias,
        None if norm_s is None else norm_s.weight, None if norm_s is None else norm_s.bias,
        (norm_t, norm_s), relu, pool, chunks, stats)
