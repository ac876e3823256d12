"""Helpers shared by several CPU kernels of :mod:`mmdet3d_pointdistiller.ops`.

* :data:`TILE` bounds the memory of the pairwise ops: one (rows x points) work tile holds
  at most that many elements (:func:`row_chunks` splits rows accordingly).
* :func:`sq_dist`: squared distances as the CUDA kernels write them, ``(c - p)^2`` summed
  over x, y, z left to right with each multiply and add rounded to the input dtype (no FMA).
* :func:`grid_candidates`: candidate (centre, point) pairs from a BEV grid within a
  conservative square reach, so that large inputs are never compared all-against-all; the
  callers (ball query, points in boxes) run the kernel's exact test on every candidate.
* :func:`is_cpu`: the device test of the dispatchers in
  :mod:`mmdet3d_pointdistiller.compat.point_ops_cpu`.
"""
from __future__ import annotations

from typing import Iterator, List, Tuple

import torch
from torch import Tensor

__all__ = ['TILE', 'is_cpu', 'row_chunks', 'sq_dist', 'grid_candidates']


# Number of elements of one (rows x points) work tile; bounds the memory of the pairwise ops.
TILE = 1 << 22


def is_cpu(t: Tensor) -> bool:
    return t.device.type == 'cpu'


def row_chunks(rows: int, cols: int) -> List[Tuple[int, int]]:
    """Split ``rows`` into ranges whose (range x cols) tile holds at most ``TILE`` elements."""
    step = max(1, TILE // max(cols, 1))
    return [(s, min(s + step, rows)) for s in range(0, rows, step)]


def sq_dist(centers: Tensor, points: Tensor, pairwise: bool = False) -> Tensor:
    """``(c - p)^2`` summed over x, y, z left to right, each step rounded (no FMA).

    Args:
        centers (Tensor): (..., R, 3), or (K, 3) with ``pairwise``.
        points (Tensor): (..., N, 3), or (K, 3) with ``pairwise``.
        pairwise (bool): distances of matching rows instead of all pairs.

    Returns:
        Tensor: (..., R, N), or (K, ) with ``pairwise``.
    """
    d = None
    for i in range(3):
        if pairwise:
            di = centers[:, i] - points[:, i]
        else:
            di = centers[..., :, i:i + 1] - points[..., None, :, i]
        di = di * di
        d = di if d is None else d.add_(di)
    return d


def grid_candidates(pxy: Tensor, cxy: Tensor, reach: Tensor) -> Iterator[Tuple[Tensor, Tensor]]:
    """Candidate (centre, point) pairs with ``|px - cx| <= reach`` and ``|py - cy| <= reach``.

    Points are bucketed into a BEV grid (cell = median reach) and sorted by (column, row), so
    the points of one grid column within a centre's row range are one contiguous run. Every
    pair within reach in x and y is produced (a superset of the true neighbours); callers run
    the kernel's exact test on them. Points and centres with non-finite x or y, and centres
    with NaN reach, are left out (callers state why that is exact for their op).

    Args:
        pxy (Tensor): (N, 2) float64 point x, y.
        cxy (Tensor): (M, 2) float64 centre x, y.
        reach (Tensor): (M, ) float64 half-width of each centre's square window.

    Yields:
        tuple[Tensor, Tensor]: int64 centre and point indices, at most ``TILE`` pairs a time.
    """
    pts_ok = torch.isfinite(pxy).all(dim=1).nonzero(as_tuple=True)[0]
    ctr_ok = (torch.isfinite(cxy).all(dim=1) & ~torch.isnan(reach)).nonzero(as_tuple=True)[0]
    if pts_ok.numel() == 0 or ctr_ok.numel() == 0:
        return
    px, py = pxy[pts_ok, 0], pxy[pts_ok, 1]
    x0, y0 = px.min(), py.min()
    extent = float(torch.maximum(px.max() - x0, py.max() - y0))
    r = reach[ctr_ok]
    finite_r = r[torch.isfinite(r)]
    cell = float(finite_r.median()) if finite_r.numel() else extent
    cell = max(cell, extent / 1024, 1e-6)
    p_col = torch.floor((px - x0) / cell).long()
    p_row = torch.floor((py - y0) / cell).long()
    n_col, n_row = int(p_col.max()) + 1, int(p_row.max()) + 1
    key, order = torch.sort(p_col * n_row + p_row)
    pts_sorted = pts_ok[order]

    def cell_range(c: Tensor, n_cells: int, origin: Tensor) -> Tuple[Tensor, Tensor]:
        lo = torch.floor((c - r - origin) / cell).clamp(0, n_cells - 1).long()
        hi = torch.floor((c + r - origin) / cell).clamp(0, n_cells - 1).long()
        return lo, hi

    col_lo, col_hi = cell_range(cxy[ctr_ok, 0], n_col, x0)
    row_lo, row_hi = cell_range(cxy[ctr_ok, 1], n_row, y0)
    n_cols = col_hi - col_lo + 1
    seg_ctr = torch.repeat_interleave(torch.arange(ctr_ok.numel()), n_cols)
    seg_col = col_lo[seg_ctr] + torch.arange(seg_ctr.numel()) - \
        torch.repeat_interleave(torch.cumsum(n_cols, 0) - n_cols, n_cols)
    seg_lo = torch.searchsorted(key, seg_col * n_row + row_lo[seg_ctr])
    seg_hi = torch.searchsorted(key, seg_col * n_row + row_hi[seg_ctr], right=True)
    seg_len = (seg_hi - seg_lo).clamp(min=0)
    ends = torch.cumsum(seg_len, 0)
    start = 0
    while start < seg_len.numel():
        # segments whose pairs fit one tile (at least one segment)
        base = int(ends[start - 1]) if start else 0
        stop = max(start + 1, int(torch.searchsorted(ends, base + TILE, right=True)))
        lens = seg_len[start:stop]
        rep = torch.repeat_interleave(torch.arange(start, stop), lens)
        offs = torch.arange(rep.numel()) - (torch.cumsum(lens, 0) - lens).repeat_interleave(lens)
        yield ctr_ok[seg_ctr[rep]], pts_sorted[seg_lo[rep] + offs]
        start = stop
