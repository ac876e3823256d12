"""The 1x1 edge adapters of :class:`PointDistillerLoss` applied without materialising edges.

An adapter ``gamma`` is an mmcv ``ConvModule`` (1x1 Conv + optional BN2d + optional
activation) over edge features ``e_ik = cat(x_j(i,k), x_i)``. Its conv splits as
``W e_ik = W1 x_j + W2 x_i``, so every element is projected once and an edge output is a
gather plus a broadcast add (:func:`~.graph_ops.gather_edge_projection`).

Notation used in the shapes below:

* ``M_b``  candidate elements of sample ``b``, ``N_b`` its queries, ``K_b`` nodes per query,
* ``L``    edge positions of the batch (``sum_b N_b K_b``),
* ``C``    feature channels, ``C'`` adapter output channels.
"""
from typing import Sequence, Tuple

import torch
from mmcv.cnn import ConvModule
from torch import Tensor

__all__ = ['split_edge_projection', 'adapter_norm_act', 'segment_max_over_k']


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
