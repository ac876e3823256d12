"""Closed-form per-query graph MSE for adapters without activation and without max-pooling.

The defaults of the non-collapsing designs (``teacher_projection='edge'`` or
``'normalised'``, ``act_cfg=None``, ``pool='none'``) have no ReLU after the BatchNorm, so
every adapter output is an affine gather (notation of :mod:`.fused_edge_loss`; one side,
edge ``e = (i, k)``, neighbour ``j = nbr(i, k)``)::

    y_e = A_j + B_i,    A = scale * P  (M, C'),   B = scale * Q + shift  (Nq, C')

and the teacher-student difference of an edge is ``d_e = D_j + E_i`` with
``D = A_T - A_S`` (M, C') and ``E = B_T - B_S`` (Nq, C'). The per-query sum of squares
expands into per-row quantities::

    sum_k |d_e|^2 = sum_k |D_j|^2 + 2 E_i . SD_i + K_i |E_i|^2,   SD_i = sum_k D_nbr(i,k)

The three terms can be much larger than their sum (a common offset in D cancelled by E), so
D and E are first shifted by the edge-mean ``v`` of D, ``d_e = (D_j - v) + (E_i + v)``, which
removes such an offset however large, and the per-row terms are combined in float64. With
``c_i = dLoss/dper_query_i / (K_i C')`` the teacher-side gradient of an edge is
``g_e = 2 c_i d_e`` (the student side's is ``-g_e``), and the adapters need only its sums::

    H_i = sum_k g_e       = 2 c_i (SD_i + K_i E_i)                      (Nq, C')
    G_j = sum_{e -> j} g_e = 2 (w_j D_j + U_j),  w_j = sum_{e -> j} c_i,
                                                 U_j = sum_{e -> j} c_i E_i  (M, C')

which the BatchNorm backward of :class:`~.fused_edge_loss.FusedEdgeGraphMSE` turns into the
projections' gradients (:func:`~.fused_edge_loss.projection_grads`).

Passes over the ``L = sum_i K_i`` edge positions, each one ``F.embedding_bag`` of
:class:`~.fused_edge_loss.EdgeIndex` (no (L, C') tensor is formed): forward one gather-sum
(``SD``) besides the BatchNorm statistics; backward one scatter (``U``) besides BatchNorm's
``R``. The
fused operator makes about twelve (two activations, difference, square, sums, masks and
scatters per chunk and direction); the result is the same up to float rounding.

The teacher's channel maximum over a query's edges is not computed (it needs every edge
output): the loss uses this operator only where nothing reads it (the voxel layout's
``score='num_points'`` weights) and where no adapter output is measured
(``measure_outputs``).
"""
from typing import List, Optional

import torch
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from .fused_edge_loss import EdgeChunk, EdgeIndex, _Side, make_chunks, projection_grads


class LinearEdgeGraphMSE(torch.autograd.Function):
    """Per-query MSE between activation-free teacher and student graph features.

    Inputs: ``proj_nbr_t`` (M, C'), ``proj_ctr_t`` (Nq, C'), ``proj_nbr_s`` (M, C'),
    ``proj_ctr_s`` (Nq, C'), BN affine ``gamma_t, beta_t, gamma_s, beta_s`` ((C',) or None),
    then ``norms`` (teacher, student BN modules or None) and ``chunks`` (list of
    :class:`~.fused_edge_loss.EdgeChunk`).

    Output: ``per_query`` (Nq,) mean over (K_i, C') of (G_T - G_S)^2, differentiable.
    """

    @staticmethod
    def forward(ctx, proj_nbr_t, proj_ctr_t, proj_nbr_s, proj_ctr_s, gamma_t, beta_t, gamma_s,
                beta_s, norms, chunks):
        channels = proj_nbr_t.shape[1]
        edges = EdgeIndex(chunks, proj_nbr_t.shape[0], proj_ctr_t.shape[0], proj_ctr_t.device)
        sides = (_Side(proj_nbr_t, proj_ctr_t, norms[0], gamma_t, beta_t),
                 _Side(proj_nbr_s, proj_ctr_s, norms[1], gamma_s, beta_s))
        for side in sides:
            side.prepare(edges)
        d_rows = sides[0].nbr_t - sides[1].nbr_t  # D (M, C')
        e_rows = sides[0].ctr_t - sides[1].ctr_t  # E (Nq, C')
        # d_e = (D_j - v) + (E_i + v) for any v: v = the mean of D over the edges takes the
        # common part out of both (a large one when the features have a large mean)
        shift = (edges.cnt.to(d_rows.dtype) @ d_rows) / edges.num_edges
        d_rows, e_rows = d_rows - shift, e_rows + shift
        sd_rows = edges.sum_over_k(d_rows)  # SD (Nq, C')
        sum_d_sq = edges.sum_over_k(d_rows.square().sum(dim=1, keepdim=True))  # (Nq, 1)
        k64 = edges.k_q.double()
        sq = (sum_d_sq.squeeze(1).double() + 2 * (e_rows.double() * sd_rows.double()).sum(1)
              + k64 * e_rows.double().square().sum(1))
        per_query = (sq.clamp_min(0) / (k64 * channels)).to(proj_ctr_t.dtype)
        ctx.save_for_backward(proj_nbr_t, proj_ctr_t, proj_nbr_s, proj_ctr_s)
        for side in sides:
            side.proj_nbr = side.proj_ctr = None
        ctx.sides, ctx.edges = sides, edges
        ctx.d_rows, ctx.e_rows, ctx.sd_rows = d_rows, e_rows, sd_rows
        return per_query

    @staticmethod
    def backward(ctx, grad_per_query):
        proj = ctx.saved_tensors
        edges = ctx.edges
        want = ctx.needs_input_grad
        need = [any(want[0:2]) or any(want[4:6]), any(want[2:4]) or any(want[6:8])]
        k_q = edges.k_q.to(proj[1].dtype).unsqueeze(1)
        coef = (grad_per_query.unsqueeze(1) / (k_q * proj[1].shape[1]))  # c_i (Nq, 1)
        w_rows = edges.sum_onto_rows(coef)  # w_j (M, 1)
        u_rows = edges.sum_onto_rows(coef * ctx.e_rows)  # U_j (M, C')
        g_rows = 2 * (w_rows * ctx.d_rows + u_rows)  # G (M, C')
        h_rows = 2 * coef * (ctx.sd_rows + k_q * ctx.e_rows)  # H (Nq, C')
        acc_g = [g_rows if need[0] else None, -g_rows if need[1] else None]
        acc_h = [h_rows if need[0] else None, -h_rows if need[1] else None]
        out = projection_grads(ctx.sides, proj, acc_g, acc_h, need, want, edges)
        return tuple(out[:8]) + (None, None)


def linear_edge_graph_mse(proj_nbr_t: Tensor, proj_ctr_t: Tensor, proj_nbr_s: Tensor,
                          proj_ctr_s: Tensor, nbr_list: List[Tensor],
                          norm_t: Optional[_BatchNorm], norm_s: Optional[_BatchNorm],
                          chunk_size: int) -> Tensor:
    """Per-query graph MSE of activation-free adapters in closed form.

    Args: those of :func:`~.fused_edge_loss.fused_edge_graph_mse` without ``relu``, ``pool``
    and ``stats`` (no activation, no pooling, no measured outputs here).

    Returns:
        Tensor: ``per_query`` (Nq,).
    """
    chunks: List[EdgeChunk] = make_chunks(nbr_list, chunk_size)
    return LinearEdgeGraphMSE.apply(
        proj_nbr_t, proj_ctr_t, proj_nbr_s, proj_ctr_s,
        None if norm_t is None else norm_t.weight, None if norm_t is None else norm_t.bias,
        None if norm_s is None else norm_s.weight, None if norm_s is None else norm_s.bias,
        (norm_t, norm_s), chunks)
