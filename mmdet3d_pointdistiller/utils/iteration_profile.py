"""Where the time of one training iteration goes (CPU): data pipeline per transform,
collation, voxelisation, teacher forward, student forward per module, head loss, KD loss,
backward and optimizer step.

Timers are plain wall clocks around the real calls of a model built from a config (the same
objects ``mim train`` builds): each pipeline transform is wrapped, forward pre/post hooks time
the top-level modules of the teacher, the student and the KD losses, and the remaining
phases (preprocessing, backward, optimizer step) are timed around the runner's own calls.
``head loss`` is the student's ``loss()`` time less the time of its timed modules (anchor
targets, assigners, loss functions).

Used by ``tools/profile_sim_iteration.py``.
"""
from __future__ import annotations

import statistics
import time
from types import SimpleNamespace
from collections import defaultdict
from typing import Callable, Dict, List, Optional

import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, set_random_seed
from torch import nn

from mmdet3d.registry import HOOKS, MODELS

__all__ = ['profile_training_iterations', 'format_profile']

#: custom hooks whose ``before_run`` changes the model (the profile builds no runner)
MODEL_CHANGING_HOOKS = ('RealPointsPFNHook',)


class _Clock:
    """Accumulates seconds per name for the current iteration."""

    def __init__(self) -> None:
        self.cur: Dict[str, float] = defaultdict(float)
        self.runs: List[Dict[str, float]] = []

    def add(self, name: str, seconds: float) -> None:
        self.cur[name] += seconds

    def next_iteration(self) -> None:
        self.runs.append(dict(self.cur))
        self.cur = defaultdict(float)


def _timed(fn: Callable, name: str, clock: _Clock) -> Callable:
    """``fn`` with its wall time of every call added to ``clock[name]``."""
    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        clock.add(name, time.perf_counter() - t0)
        return out
    return timed


def _hook_module(module: nn.Module, name: str, clock: _Clock) -> list:
    start: Dict[int, float] = {}

    def pre(mod, args):
        start[id(mod)] = time.perf_counter()

    def post(mod, args, out):
        clock.add(name, time.perf_counter() - start.pop(id(mod)))

    return [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]


def _pipeline_of(dataset) -> Optional[object]:
    """The ``Compose`` pipeline of a (possibly wrapped) mmengine dataset."""
    while dataset is not None and not hasattr(dataset, 'pipeline'):
        dataset = getattr(dataset, 'dataset', None)
    return None if dataset is None else dataset.pipeline


def profile_training_iterations(cfg, iters: int = 10, warmup: int = 2,
                                log: Callable[[str], None] = print) -> dict:
    """Run ``warmup + iters`` training iterations of ``cfg`` and time their phases.

    Args:
        cfg (mmengine.Config): a training config (plain detector or PointDistillerDetector).
        iters (int): timed iterations; ``warmup`` untimed ones come first.

    Returns:
        dict: ``phases`` {name: median seconds per iteration}, ``transforms`` {name: median
        seconds per batch}, ``total_s`` (median wall seconds per iteration), ``iters``.
    """
    init_default_scope(cfg.get('default_scope', 'mmdet3d'))
    if cfg.get('randomness'):
        set_random_seed(**cfg.randomness)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    # the config's hooks that change the model before a run, applied as the runner would
    for hook_cfg in cfg.get('custom_hooks', []):
        if hook_cfg.get('type') in MODEL_CHANGING_HOOKS:
            HOOKS.build(hook_cfg).before_run(SimpleNamespace(model=model))
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=cfg.get('randomness', {}).get(
        'seed'))
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    clock = _Clock()

    pipeline = _pipeline_of(loader.dataset)
    if pipeline is not None:
        pipeline.transforms = [
            _timed(t, f'data: {type(t).__name__}', clock) for t in pipeline.transforms]
    handles = []
    student = getattr(model, 'student', model)
    for name, child in student.named_children():
        if name != 'data_preprocessor':
            handles += _hook_module(child, f'student: {name}', clock)
    teacher = getattr(model, 'teacher', None)
    orig_teacher = getattr(model, '_teacher_features', None)
    if teacher is not None and orig_teacher is not None:
        # the teacher's forward ends at its deepest tap (StopForward), so its module hooks
        # would not all fire: time the distiller's teacher pass as a whole
        model._teacher_features = _timed(orig_teacher, 'teacher: forward to the deepest tap',
                                         clock)
    for name, child in getattr(model, 'distill_losses', nn.ModuleDict()).items():
        handles += _hook_module(child, f'KD loss: {name}', clock)

    orig_loss = student.loss
    student.loss = _timed(orig_loss, '_student_loss_call', clock)
    it = iter(loader)
    try:
        for i in range(warmup + iters):
            t_iter = time.perf_counter()
            t0 = time.perf_counter()
            try:
                data = next(it)
            except StopIteration:
                it = iter(loader)
                data = next(it)
            clock.add('data (pipeline + collate)', time.perf_counter() - t0)
            t0 = time.perf_counter()
            data = model.data_preprocessor(data, True)
            clock.add('voxelisation (data_preprocessor)', time.perf_counter() - t0)
            t0 = time.perf_counter()
            losses = model(**data, mode='loss')
            clock.add('_loss_total', time.perf_counter() - t0)
            loss, _ = model.parse_losses(losses)
            t0 = time.perf_counter()
            optim.backward(loss)
            clock.add('backward', time.perf_counter() - t0)
            t0 = time.perf_counter()
            optim.step()
            optim.zero_grad()
            clock.add('optimizer step', time.perf_counter() - t0)
            clock.add('_total', time.perf_counter() - t_iter)
            if i < warmup:
                clock.cur = defaultdict(float)
            else:
                clock.next_iteration()
                log(f'[profile] iteration {i - warmup + 1}/{iters}: '
                    f'{clock.runs[-1]["_total"]:.3f} s')
    finally:
        for h in handles:
            h.remove()
        student.loss = orig_loss
        if orig_teacher is not None:
            del model._teacher_features  # back to the class method

    names = sorted({k for r in clock.runs for k in r})
    med = {k: statistics.median(r.get(k, 0.0) for r in clock.runs) for k in names}
    transforms = {k[len('data: '):]: v for k, v in med.items() if k.startswith('data: ')}
    phases: Dict[str, float] = {}
    pipeline_sum = sum(transforms.values())
    phases['data: pipeline transforms'] = pipeline_sum
    phases['data: loading + collate'] = max(0.0, med['data (pipeline + collate)'] - pipeline_sum)
    phases['voxelisation (data_preprocessor)'] = med['voxelisation (data_preprocessor)']
    teacher_s = sum(v for k, v in med.items() if k.startswith('teacher: '))
    if teacher is not None:
        phases['teacher forward'] = teacher_s
    student_mods = {k: v for k, v in med.items() if k.startswith('student: ')}
    phases.update(student_mods)
    phases['student: head loss (targets, assigners, loss functions)'] = max(
        0.0, med.get('_student_loss_call', 0.0) - sum(student_mods.values()))
    kd_s = {k: v for k, v in med.items() if k.startswith('KD loss: ')}
    phases.update(kd_s)
    accounted = teacher_s + med.get('_student_loss_call', 0.0) + sum(kd_s.values())
    phases['distiller bookkeeping'] = max(0.0, med['_loss_total'] - accounted)
    phases['backward'] = med['backward']
    phases['optimizer step'] = med['optimizer step']
    return dict(phases=phases, transforms=transforms, total_s=med['_total'], iters=iters,
                batch_size=cfg.train_dataloader.batch_size, threads=torch.get_num_threads())


def format_profile(prof: dict, title: str) -> str:
    """Markdown table of a :func:`profile_training_iterations` result."""
    total = prof['total_s']
    lines = [f'### {title}', '',
             f"median of {prof['iters']} iterations, batch {prof['batch_size']}, "
             f"{prof['threads']} torch thread(s): **{total:.3f} s/iteration "
             f'({1.0 / total:.2f} it/s)**', '',
             '| phase | s/iter | share |', '|---|---|---|']
    for name, sec in prof['phases'].items():
        lines.append(f'| {name} | {sec:.4f} | {100 * sec / total:.1f} % |')
    lines += ['', '| pipeline transform | s/batch |', '|---|---|']
    for name, sec in sorted(prof['transforms'].items(), key=lambda kv: -kv[1]):
        lines.append(f'| {name} | {sec:.4f} |')
    return '\n'.join(lines) + '\n'
