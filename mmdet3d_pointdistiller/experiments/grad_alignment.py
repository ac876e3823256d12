"""Do the distillation and the detection gradients agree?  A probe on real training batches.

For one batch and the student parameters ``θ`` that the distillation loss reaches::

    g_det = ∂ L_det / ∂θ      L_det = Σ of the student's own ``loss_*`` terms
    g_kd  = ∂ L_kd  / ∂θ      L_kd  = Σ of the ``loss_pd_*`` terms (loss weights as configured)
    cos   = <g_det, g_kd> / (|g_det| |g_kd|)        ratio = |g_kd| / |g_det|

``cos < 0``: a plain gradient step on ``L_det + L_kd`` undoes part of the detection step;
``ratio`` is how much of that step the KD term is. Both per student module (``voxel_encoder``,
``backbone``, ...) and over all reached parameters. These are raw gradients: AdamW rescales
every coordinate, so they describe the direction of the pull, not the size of the update.
Adapters (``distill_losses.*``) are excluded: only the KD loss reaches them.
"""
from __future__ import annotations

import math
import time
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, set_random_seed
from mmengine.runner.checkpoint import _load_checkpoint, load_state_dict
from torch import Tensor, nn

from mmdet3d.registry import MODELS
from ..models.distillers.state_dict import STUDENT, has_part
from ..utils.paired_stats import mean_ci

__all__ = ['kd_and_detection_losses', 'gradient_alignment', 'probe_kd_gradients', 'summarise',
           'render_probe', 'run_probe']


def kd_and_detection_losses(losses: Dict[str, object]) -> Dict[str, Tensor]:
    """Split a distiller's loss dict into ``{'det': Σ loss_* (not loss_pd_*), 'kd': Σ
    loss_pd_*}`` (list values are summed, as mmengine's ``parse_losses`` does).

    Raises:
        ValueError: if there is no ``loss_pd_*`` term (not a distillation config) or no
            detection term.
    """
    det: List[Tensor] = []
    kd: List[Tensor] = []
    for key, value in losses.items():
        if not key.startswith('loss'):
            continue
        total = sum(v.sum() for v in value) if isinstance(value, (list, tuple)) else value.sum()
        (kd if key.startswith('loss_pd_') else det).append(total)
    if not kd:
        raise ValueError(f'no loss_pd_* term in the losses {sorted(losses)}: the probe needs '
                         'a PointDistillerDetector config with a distill_cfg')
    if not det:
        raise ValueError(f'no detection loss_* term in the losses {sorted(losses)}')
    return dict(det=torch.stack(det).sum(), kd=torch.stack(kd).sum())


def _group(name: str, depth: int) -> str:
    parts = name.split('.')
    return '.'.join(parts[:depth])


def gradient_alignment(det: Tensor, kd: Tensor, params: Dict[str, nn.Parameter],
                       group_depth: int = 1) -> Dict[str, dict]:
    """Cosine and norm ratio of ``∇det`` and ``∇kd`` over the parameters ``kd`` reaches.

    Args:
        det, kd: scalar losses of one forward pass (the graph is kept for both gradients).
        params: ``{name: parameter}`` (e.g. the student's ``named_parameters()``).
        group_depth: leading name components that form a group (1: ``voxel_encoder``, ...).

    Returns:
        ``{group: {cos, ratio, norm_det, norm_kd, numel}}`` for every group with a KD gradient,
        plus ``'all'`` over all of them when there are several. A group whose detection
        gradient is zero gets ``cos = nan``; ``{}`` when the KD loss reaches no parameter.
    """
    names = list(params)
    tensors = [params[n] for n in names]
    g_kd = torch.autograd.grad(kd, tensors, retain_graph=True, allow_unused=True)
    g_det = torch.autograd.grad(det, tensors, retain_graph=False, allow_unused=True)
    groups: Dict[str, List[int]] = {}
    for i, (name, gk) in enumerate(zip(names, g_kd)):
        if gk is not None and bool(gk.abs().sum() > 0):
            groups.setdefault(_group(name, group_depth), []).append(i)
    if not groups:
        return {}
    if len(groups) > 1:
        groups['all'] = [i for idx in groups.values() for i in idx]
    out = {}
    for group, idx in groups.items():
        a = torch.cat([(g_det[i] if g_det[i] is not None else torch.zeros_like(tensors[i]))
                       .flatten() for i in idx])
        b = torch.cat([g_kd[i].flatten() for i in idx])
        na, nb = float(a.norm()), float(b.norm())
        out[group] = dict(cos=float(a @ b) / (na * nb) if na > 0 else math.nan,
                          ratio=nb / na if na > 0 else math.inf, norm_det=na, norm_kd=nb,
                          numel=int(a.numel()))
    return out


def probe_kd_gradients(cfg, batches: int = 8, student_ckpt: Optional[str] = None,
                       seed: int = 0, log=print) -> Dict[str, object]:
    """:func:`gradient_alignment` on the first ``batches`` training batches of ``cfg``.

    Args:
        cfg (mmengine.Config): a ``PointDistillerDetector`` training config (teacher loaded
            from ``model.teacher_ckpt``).
        batches: batches to probe (the data order of ``seed``; each batch is one sample of
            the alignment).
        student_ckpt: a plain student checkpoint (e.g. ``iter_1500.pth`` of a student-only
            run), loaded strictly into ``model.student``; or a checkpoint of this distiller
            (``student.*`` keys: the end of a distillation run, adapters included), loaded
            strictly into the whole model; None probes the initial student.
        seed: model initialisation and data order.

    Returns:
        ``{'per_batch': [{group: {...}}, ...], 'groups': [...]}``.
    """
    init_default_scope(cfg.get('default_scope', 'mmdet3d'))
    set_random_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    if not hasattr(model, 'student') or not hasattr(model, 'distill_losses'):
        raise ValueError(f'model.type={cfg.model.get("type")!r}: the probe needs a '
                         'PointDistillerDetector config')
    if student_ckpt:
        state = _load_checkpoint(student_ckpt, map_location='cpu')  # read once
        state = state.get('state_dict', state)
        distiller_ckpt = has_part(state, STUDENT)
        load_state_dict(model if distiller_ckpt else model.student, state, strict=True,
                        logger='silent')
    model.train()
    loader_cfg = cfg.train_dataloader.copy()
    loader_cfg.update(num_workers=0, persistent_workers=False)
    loader = Runner.build_dataloader(loader_cfg, seed=seed)
    params = {n: p for n, p in model.student.named_parameters() if p.requires_grad}
    per_batch = []
    for i, data in enumerate(loader):
        if i == batches:
            break
        data = model.data_preprocessor(data, True)
        losses = kd_and_detection_losses(model(**data, mode='loss'))
        align = gradient_alignment(losses['det'], losses['kd'], params)
        if not align:
            raise ValueError('the KD loss reaches no trainable student parameter (are the '
                             'student taps detached or frozen?)')
        per_batch.append(align)
        overall = align.get('all') or next(iter(align.values()))
        log(f'  batch {i + 1}/{batches}: cos {overall["cos"]:+.3f}, '
            f'|g_kd|/|g_det| {overall["ratio"]:.3f}')
    groups: Sequence[str] = list(per_batch[0]) if per_batch else []
    return dict(per_batch=per_batch, groups=list(groups))


# ----------------------------------------------------------------------------- the probe record
def summarise(values: Sequence[float]) -> dict:
    """Mean over batches with a Student-t 95 % interval (nan interval for one value)."""
    stats = mean_ci([v for v in values if math.isfinite(v)])
    return {k: stats[k] for k in ('mean', 'ci95', 'n')}


def render_probe(rec: dict) -> str:
    """Markdown table of a probe record (:func:`run_probe`)."""
    def cell(s: dict, sign: bool) -> str:
        fmt = '{:+.3f}' if sign else '{:.3f}'
        if s['n'] < 2:
            return fmt.format(s['mean'])
        return (fmt.format(s['mean']) + ' [' + fmt.format(s['ci95'][0]) + ', '
                + fmt.format(s['ci95'][1]) + ']')
    lines = ['# KD and detection gradients on the student', '',
             f"Cosine between ∇L_det and ∇L_kd, and |∇L_kd| / |∇L_det|, on the student "
             f"parameters the KD loss reaches; mean over the first {rec['batches']} training "
             f"batches (seed {rec['seed']}) with a Student-t 95 % interval over batches. "
             'Raw gradients, before AdamW\'s per-coordinate scaling. Student states: `init` '
             'the initialised student, a plain student checkpoint (the adapters at their '
             'initialisation: what a delayed KD start would see), or the end of a method\'s '
             'own distillation run (its trained adapters).', '',
             '| method | student | group | cos(∇det, ∇kd) | \\|∇kd\\| / \\|∇det\\| |',
             '|---|---|---|---|---|']
    for r in rec['results']:
        for group, s in r['summary'].items():
            lines.append(f"| {r['method']} | {r['state']} | {group} | {cell(s['cos'], True)} "
                         f"| {cell(s['ratio'], False)} |")
    lines += ['', f"Command: `{rec['command']}` ({rec['wall_time_s']:.0f} s, "
                  f"{rec['threads']} torch thread(s)).", '']
    return '\n'.join(lines)


def run_probe(methods: Dict[str, str], states: Dict[str, str], batches: int, seed: int,
              threads: int, command: str) -> dict:
    """Probe every method at every student state (``init``, ``STATE=CKPT`` or
    ``STATE@METHOD=CKPT``, see ``tools/probe_kd_gradients.py``); returns the record.

    Raises:
        ValueError: a ``STATE@METHOD`` naming a method not in ``methods``.
    """
    t0 = time.perf_counter()
    results = []
    unknown = sorted({s.split('@', 1)[1] for s in states if '@' in s} - set(methods))
    if unknown:
        raise ValueError(f'--states names methods {unknown} that --methods does not have')
    for method, config in methods.items():
        for state, ckpt in states.items():
            if '@' in state:
                state, only = state.split('@', 1)
                if only != method:
                    continue
            print(f'{method} / student {state}:', flush=True)
            probe = probe_kd_gradients(Config.fromfile(config), batches=batches,
                                       student_ckpt=None if ckpt == 'init' else ckpt,
                                       seed=seed)
            summary = {g: {k: summarise([b[g][k] for b in probe['per_batch'] if g in b])
                           for k in ('cos', 'ratio')} for g in probe['groups']}
            results.append(dict(method=method, config=config, state=state,
                                student_ckpt=None if ckpt == 'init' else ckpt,
                                summary=summary, per_batch=probe['per_batch']))
    return dict(batches=batches, seed=seed, threads=threads, results=results,
                wall_time_s=time.perf_counter() - t0, command=command)
