"""Memory-bounded graph operations used by :class:`PointDistillerLoss`.

Notation used in the shapes below:

* ``M``  number of candidate elements (voxels / BEV cells / points) of one sample,
* ``N``  number of query (centre) elements of that sample,
* ``K``  number of graph nodes per query, the centre included,
* ``C``  feature channels, ``C'`` adapter output channels.
"""
from typing import Optional

import torch
from torch import Tensor


@torch.no_grad()
def chunked_feature_knn(feats: Tensor,
                        query_index: Tensor,
                        k: int,
                        chunk_size: int = 1024) -> Tensor:
    """K nearest neighbours (squared Euclidean, feature space), centre first.

    The distance block of at most ``chunk_size`` queries against all ``M``
    candidates is built at a time, so the peak extra memory is
    ``chunk_size * M`` scalars instead of ``N * M``.

    Ranking uses ``|x_j|^2 - 2 <q_i, x_j>`` (``|q_i|^2`` is a per-row constant
    and does not change the ranking). The query itself is forced to be node 0
    (its distance is set to ``-inf``) so that the centre is always part of its
    own graph even when other elements have identical features (e.g. empty BEV
    cells), where the original code's "distance 0" criterion ties.

    Args:
        feats (Tensor): (M, C) candidate features of one sample.
        query_index (Tensor): (N,) long, rows of ``feats`` used as queries.
        k (int): nodes per query including the centre, ``1 <= k <= M``.
        chunk_size (int): queries per distance block.

    Returns:
        Tensor: (N, k) long indices into ``feats``; column 0 equals
        ``query_index``; columns 1..k-1 are the k-1 nearest other elements in
        ascending distance.
    """
    num_cand = feats.shape[0]
    num_query = query_index.shape[0]
    if not 1 <= k <= num_cand:
        raise ValueError(f'k must be in [1, {num_cand}] (number of candidates), got {k}')
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be positive, got {chunk_size}')
    out = torch.empty((num_query, k), dtype=torch.long, device=feats.device)
    if num_query == 0:
        return out
    sq_norm = feats.square().sum(dim=1).unsqueeze(0)  # (1, M)
    feats_t = feats.t()  # (C, M) view
    # one distance block and one value block, reused by every chunk (no re-allocation)
    dist_buf = feats.new_empty((min(chunk_size, num_query), num_cand))
    val_buf = feats.new_empty((min(chunk_size, num_query), k))
    for start in range(0, num_query, chunk_size):
        q_idx = query_index[start:start + chunk_size]  # (c,)
        num = q_idx.shape[0]
        # (c, M) = |x_j|^2 - 2 q.x_j ; addmm fuses the two terms.
        dist = torch.addmm(sq_norm, feats.index_select(0, q_idx), feats_t, beta=1.0,
                           alpha=-2.0, out=dist_buf[:num])
        dist.scatter_(1, q_idx.unsqueeze(1), float('-inf'))
        torch.topk(dist, k, dim=1, largest=False, sorted=True,
                   out=(val_buf[:num], out[start:start + num]))
    return out


def gather_edge_projection(proj_nbr: Tensor,
                           proj_ctr: Tensor,
                           nbr_index: Tensor,
                           ctr_index: Optional[Tensor] = None) -> Tensor:
    """Edge-conv output without materialising the (N, K, 2C) edge tensor.

    A 1x1 convolution with weight ``W = [W1 | W2]`` applied to the edge feature
    ``cat(x_j, x_i)`` equals ``W1 x_j + W2 x_i``. With ``proj_nbr = X W1^T`` and
    ``proj_ctr = X_q W2^T`` precomputed, the edge output is a gather plus an add.

    Args:
        proj_nbr (Tensor): (M, C') neighbour-side projections of all candidates.
        proj_ctr (Tensor): (N, C') centre-side projections of the queries.
        nbr_index (Tensor): (N, K) long indices into ``proj_nbr`` (uniform K) or
            (L,) flat indices (ragged graphs; then ``ctr_index`` is required).
        ctr_index (Tensor, optional): (L,) long, query row of every flat edge.

    Returns:
        Tensor: (N*K, C') or (L, C') pre-normalisation edge features, rows
        ordered query-major (all K edges of query 0, then query 1, ...).
    """
    if ctr_index is None:
        num_query, k = nbr_index.shape
        edge = proj_nbr[nbr_index]  # (N, K, C')
        edge += proj_ctr.unsqueeze(1)  # in place: the gather's backward needs only the index
        return edge.view(num_query * k, -1)
    edge = proj_nbr[nbr_index]  # (L, C')
    edge += proj_ctr[ctr_index]
    return edge
