"""The queries a :class:`~.pointdistiller_loss.PointDistillerLoss` forward selected.

A forward keeps nothing about its selection: the per-sample queries and weights are built
only when asked for, inside :meth:`PointDistillerLoss.recording_selection` (the BEV picture
reads them that way) or as the ``neff`` statistic of a measured forward
(``measure_outputs=True``, set by ``DistillStatsHook`` on its logging iterations).

A *selection* is a list with one dict per sample: ``index`` (N_b,) long and ``weight``
(N_b,), both detached. ``index`` is the row of ``teacher_feat`` (voxel layout), the flat
``h * W + w`` cell (bev) or the point index (point). For the voxel layout the list has
``max(batch_idx) + 1`` entries (empty samples give empty tensors).
"""
from __future__ import annotations

from contextlib import ExitStack, contextmanager
from typing import Dict, Iterator, List, Mapping, Optional, Sequence

import torch
from torch import Tensor, nn

Selection = List[Dict[str, Tensor]]

__all__ = ['Selection', 'selection_per_sample', 'effective_queries', 'recording_selections']


@contextmanager
def recording_selections(losses: Mapping[str, nn.Module]
                         ) -> Iterator[Dict[str, List[Selection]]]:
    """Record every forward's selection of each loss that can (``recording_selection``),
    e.g. a distiller's ``distill_losses``: yields ``{tap name: [Selection per forward]}``."""
    with ExitStack() as stack:
        yield {name: stack.enter_context(module.recording_selection())
               for name, module in losses.items() if hasattr(module, 'recording_selection')}


def selection_per_sample(sel_list: Sequence[Tensor], weights: Sequence[Tensor],
                         sample_counts: Sequence[int], orig_index: Tensor,
                         batch_wide: bool) -> Selection:
    """One ``dict(index, weight)`` per sample.

    Args:
        sel_list (list[Tensor]): per group, (N_g,) long flat rows of the queries (a group is a
            sample, or the whole batch when ``batch_wide``).
        weights (list[Tensor]): per group, (N_g,) their weights.
        sample_counts (list[int]): M_b of every sample (flat rows are grouped by sample).
        orig_index (Tensor): (sum M_b,) index reported for every flat row.
        batch_wide (bool): ``sampling='batch'``: one group; its queries are split by the
            sample they fell in (in descending score order).
    """
    if not batch_wide:
        return [dict(index=orig_index[sel], weight=w) for sel, w in zip(sel_list, weights)]
    sel, weight = sel_list[0], weights[0]
    sample_of = torch.repeat_interleave(
        torch.arange(len(sample_counts), device=sel.device),
        torch.tensor(list(sample_counts), device=sel.device, dtype=torch.long))[sel]
    return [dict(index=orig_index[sel[sample_of == b]], weight=weight[sample_of == b])
            for b in range(len(sample_counts))]


def effective_queries(selection: Optional[Selection]) -> Optional[float]:
    """Mean over samples of ``(sum w)^2 / sum w^2`` (N_b for uniform weights, 1 when one
    query has all the weight); None if no sample has a query."""
    values = []
    for sel in selection or []:
        w = sel.get('weight') if isinstance(sel, dict) else None
        if w is None or w.numel() == 0:
            continue
        w = w.detach().double()
        values.append(float(w.sum() ** 2 / (w * w).sum().clamp_min(1e-300)))
    return sum(values) / len(values) if values else None
