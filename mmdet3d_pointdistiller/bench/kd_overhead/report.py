"""Markdown rendering of a benchmark record (``kd_overhead.json`` -> ``kd_overhead.md``).

Works on a freshly measured result as well as on a committed record read back from JSON.
"""
import math
from pathlib import Path
from typing import Any, Dict, Sequence

from .cases import IMPLS, KD_CASES
from .targets import TARGET_TRAIN_RATIO, describe_target

__all__ = ['format_analysis', 'format_tables', 'render_markdown', 'write_markdown']


def _row(cells: Sequence[Any]) -> str:
    """One markdown table row."""
    return '| ' + ' | '.join(str(c) for c in cells) + ' |'


def format_tables(result: Dict) -> str:
    """Markdown tables of every measurement in ``result``."""
    lines = []
    gpu = any('gpu_time_s' in result[c]['ours'] for c in KD_CASES if c in result)
    head = ['case', 'setting', 'dense time (s)', 'ours time (s)', 'speed-up',
            'dense peak (MB)', 'ours peak (MB)', 'memory ratio', 'loss dense / ours']
    if gpu:
        head[4:4] = ['dense GPU (s)', 'ours GPU (s)']
    lines += ['### KD loss, forward + backward', '', _row(head), _row(['---'] * len(head))]
    for name in KD_CASES:
        if name not in result:
            continue
        r = result[name]
        cells = [name, r['setting']['note'], f'{r["dense"]["time_s"]:.3f}',
                 f'{r["ours"]["time_s"]:.3f}', f'{r["speedup"]:.2f}x',
                 f'{r["dense"]["peak_mb"]:.0f}', f'{r["ours"]["peak_mb"]:.0f}',
                 f'{r["memory_ratio"]:.1f}x',
                 f'{r["dense"]["loss"]:.6g} / {r["ours"]["loss"]:.6g}']
        if gpu:
            cells[4:4] = [f'{r["dense"].get("gpu_time_s", float("nan")):.4f}',
                          f'{r["ours"].get("gpu_time_s", float("nan")):.4f}']
        lines.append(_row(cells))
    lines.append('')
    split = [n for n in KD_CASES if n in result]
    if split:
        lines += ['Forward / backward split (s, median):', '',
                  _row(['case', 'dense fwd', 'dense bwd', 'ours fwd', 'ours bwd']),
                  _row(['---'] * 5)]
        for name in split:
            d, o = result[name]['dense'], result[name]['ours']
            lines.append(_row([name, f'{d["forward_s"]:.3f}', f'{d["backward_s"]:.3f}',
                               f'{o["forward_s"]:.3f}', f'{o["backward_s"]:.3f}']))
        lines.append('')
    if 'sweep' in result:
        sw = result['sweep']
        loss = sw['loss']
        lines += ['### Scaling sweep (one sample, PointPillars channels '
                  f'C_T={loss["teacher_channels"]}, C_S={loss["student_channels"]}, '
                  f'C\'={loss["adapter_channels"]}, K={loss["num_neighbors"]}, '
                  f'chunk={loss["knn_chunk_size"]})', '']
        for axis, label, fixed in (('m', 'M', f'N={sw["m"]["fixed_n"]}'),
                                   ('n', 'N', f'M={sw["n"]["fixed_m"]}')):
            lines += [f'Over {label} at {fixed}:', '',
                      _row([label, 'dense time (s)', 'ours time (s)', 'dense peak (MB)',
                            'ours peak (MB)', 'memory ratio']), _row(['---'] * 6)]
            for p in sw[axis]['points']:
                d, o = p['dense'], p['ours']
                lines.append(_row([p[label], f'{d["time_s"]:.3f}', f'{o["time_s"]:.3f}',
                                   f'{d["peak_mb"]:.1f}', f'{o["peak_mb"]:.1f}',
                                   f'{d["peak_mb"] / max(o["peak_mb"], 1e-9):.1f}x']))
            lines.append('')
            for impl in IMPLS:
                f = sw[axis][f'fit_{impl}']
                lines.append(f'- {impl}: peak = {f["slope_mb_per_1k"]:.2f} MB per 1000 {label} '
                             f'x {label} + {f["intercept_mb"]:.1f} MB, R^2 = {f["r2"]:.4f}')
            lines.append('')
    if 'train_step' in result:
        t = result['train_step']
        lines += ['### One training step, PointPillars 4x, real KITTI frame', '',
                  _row(['', 'median (s)', 'all timed steps (s)']), _row(['---'] * 3),
                  _row(['student only (distill=False)', f'{t["student_s"]:.3f}',
                        ', '.join(f'{x:.3f}' for x in t['student_times_s'])]),
                  _row(['distillation (distill=True)', f'{t["distill_s"]:.3f}',
                        ', '.join(f'{x:.3f}' for x in t['distill_times_s'])]),
                  '', f'- distill / student: **{t["ratio"]:.2f}x** '
                  f'(target <= {TARGET_TRAIN_RATIO:g}x)',
                  f'- batch {t["batch"]}: {t["frame_note"]}; {t["pillars"]} pillars '
                  f'({", ".join(map(str, t["pillars_per_sample"]))} per sample)',
                  f'- breakdown of the extra cost (measured separately, median): teacher forward '
                  f'{t["teacher_forward_s"]:.3f} s, KD loss forward + backward on this step\'s '
                  f'features {t["kd_loss_fwd_bwd_s"]:.3f} s', '']
    if result.get('targets'):
        lines += ['### Targets (ratios measured in this run)', '',
                  _row(['target', 'what it measures', 'measured', 'met']), _row(['---'] * 4)]
        for key, val in result['targets'].items():
            lines.append(_row([key, describe_target(key), f'{val["value"]:.4g}',
                               'yes' if val['met'] else '**no**']))
        lines.append('')
    profiles = [(n, i) for n in KD_CASES if n in result for i in IMPLS
                if 'profile' in result[n][i]]
    if profiles:
        lines += ['### Profile (torch.profiler, one forward + backward, top operators by self '
                  'time)', '']
        for name, impl in profiles:
            lines += [f'{name}, {impl}:', '',
                      _row(['op', 'input shapes', 'calls', 'self (s)', 'share']),
                      _row(['---'] * 5)]
            for row in result[name][impl]['profile']:
                lines.append(_row([f'`{row["op"]}`', f'`{row["shapes"]}`', row['calls'],
                                   f'{row["self_s"]:.3f}', f'{row["share"] * 100:.1f}%']))
            lines.append('')
    return '\n'.join(lines)


def _mb(nbytes: float) -> str:
    """Bytes as MiB text."""
    return f'{nbytes / 2**20:.1f} MB'


def format_analysis(result: Dict) -> str:
    """Where the time and memory go, from the measured profile and the loss configs."""
    lines = ['## Analysis', '']
    prof = result.get('pointpillars_4x', {}).get('ours', {}).get('profile')
    dense_prof = result.get('pointpillars_4x', {}).get('dense', {}).get('profile')
    if prof and dense_prof:
        topk = sum(r['self_s'] for r in prof if r['op'] == 'aten::topk')
        topk_share = sum(r['share'] for r in prof if r['op'] == 'aten::topk')
        dense_topk = sum(r['self_s'] for r in dense_prof if r['op'] == 'aten::topk')
        lines.append(
            f'- Time (profile of `pointpillars_4x` above): `aten::topk`, the K-nearest '
            f'selection over each query\'s M candidates, takes {topk:.2f} s '
            f'({topk_share * 100:.0f}% of ours) in ours and {dense_topk:.2f} s in dense: the '
            'same work in both, so it bounds the speed-up (dense minus ours is the edge '
            'tensors, `cat`/`copy_` of (N, K, 2C) and the conv/BN/ReLU on them). The rest of '
            'ours is the chunked gathers (`index_select`) and the backward scatters '
            '(`index_add_` = `scatter_add_`) of the fused edge operator, and the distance '
            'GEMM (`addmm`).')
    if 'sweep' in result:
        loss = result['sweep']['loss']
        chunk, k, cp = loss['knn_chunk_size'], loss['num_neighbors'], loss['adapter_channels']
        n = result['sweep']['m']['fixed_n']
        rows = min(chunk, n)
        fit = result['sweep']['m']['fit_ours']
        lines.append(
            f'- Memory of ours is linear in M at a fixed chunk size: its two large phases are '
            f'the kNN (one {rows} x M float32 distance block = {_mb(rows * 4 * 1000)} per '
            f'1000 M, plus O(M C) feature copies) and the fused operator\'s backward (four '
            f'chunk x K x C\' float32 workspaces = 4 x {chunk} x {k} x {cp} x 4 B = '
            f'{_mb(4 * chunk * k * cp * 4)}, independent of M, plus O(M C\') projections and '
            f'their gradients). The fitted line (slope {fit["slope_mb_per_1k"]:.2f} MB per '
            f'1000 M, intercept {fit["intercept_mb"]:.1f} MB, R^2 = {fit["r2"]:.4f}) spans both '
            'phases (compare the intercept with the backward workspaces; the slope lies below the '
            'distance block\'s as the kNN phase dominates only at large M). Dense grows '
            'with N x M (distance matrix) and N x K x 2C (edge tensors): see the N sweep.')
    if 'second_4x' in result:
        taps = result['second_4x']['setting']['taps']
        per_copy = sum(t['inputs']['batch'] * math.prod(t['inputs']['spatial'])
                       * (t['loss']['teacher_channels'] + t['loss']['student_channels']) * 4
                       for t in taps)
        cells = sum(t['inputs']['batch'] * math.prod(t['inputs']['spatial']) for t in taps)
        lines.append(
            f'- `second_4x`: every BEV cell is a kNN candidate ({cells} cells over both stages '
            f'and the batch), so ours is dominated by O(M C) tensors: one flattened copy of the '
            f'teacher and student maps of both stages is {_mb(per_copy)}, and the loss keeps '
            'such copies (the (M, C) row layout for the kNN and the projections, the teacher '
            'rows saved for the adapter weight gradient, the student gradient) besides the '
            'O(M C\') projections. The N x K edge part that dense materialises is small here '
            '(N = 256), hence the smaller memory ratio than for the voxel and point layouts.')
    if 'train_step' in result:
        t = result['train_step']
        lines.append(
            f'- Train step: the distillation step adds the teacher forward (only up to the '
            f'tapped PillarFeatureNet, {t["teacher_forward_s"]:.3f} s) and the KD loss on the '
            f'frame\'s {t["pillars"]} pillars ({t["kd_loss_fwd_bwd_s"]:.3f} s forward + '
            f'backward) to the student step ({t["student_s"]:.3f} s).')
    return '\n'.join(lines) + '\n'


def render_markdown(result: Dict) -> str:
    """The whole report (``kd_overhead.md``) of ``result``: machine, method, tables,
    analysis."""
    m = result['machine']
    text = [
        '# KD-overhead benchmark: memory-bounded PointDistiller loss vs the dense original', '',
        f'Generated by `{result["command"]}` ({result["elapsed_s"]:.0f} s).', '',
        f'Machine: {m["cpu"]}, {m["cpu_cores"]} cores, {m["torch_threads"]} torch thread(s), '
        f'load average (1, 5, 15 min) at start '
        f'{", ".join(f"{x:.2f}" for x in m["load_avg_at_start"] or [])}, at end '
        f'{", ".join(f"{x:.2f}" for x in m.get("load_avg_at_end") or [])} '
        f'(shared machine: absolute times are inflated, compare ratios); '
        f'device `{m["device"]}`'
        + (f' ({m["gpu"]}, CUDA {m["cuda"]})' if 'gpu' in m else '') + '.  ',
        f'Versions: Python {m["python"]}, torch {m["torch"]}, mmcv {m["mmcv"]}, '
        f'mmengine {m["mmengine"]}, mmdet3d {m["mmdet3d"]}.', '',
        '## Method', '',
        '- **dense**: `dense_reference_from_module` (tests-only yardstick in the style of the '
        'released code: full (N, M) distance matrix per sample, repeated (N, K, 2C) edge '
        'tensors, `conv2d` + `batch_norm` + ReLU). **ours**: `PointDistillerLoss` (kNN over '
        'query chunks, 1x1 conv as projection before the gather, fused edge -> BN -> ReLU -> MSE '
        'operator). Same module parameters and inputs, so the loss values agree (last column).',
        '- KD hyper-parameters and batch sizes come from the shipped configs in '
        '`configs/pointdistiller/` (PointPillars, SECOND and PointRCNN: the paper\'s design, named '
        '`pointdistiller-paper_*` since the defaults moved to designs that cannot collapse; '
        'the resolved configs are the ones measured); features are synthetic '
        '(teacher ReLU(N(0,1)), student N(0,1), 1..32 points per pillar): the cost depends on '
        'sizes only.',
        f'- Time: wall clock of forward + backward. KD-loss cases: one process runs a '
        f'warm-up of each implementation, then {result["settings"]["repeats"]} rounds that '
        'alternate dense and ours (the machine is shared; alternation exposes both to the '
        'same load); medians. Sweep: the run after the warm-up in the memory process.',
        '- Peak memory: each case runs in a fresh process (forked from a forkserver that only '
        'imported the libraries). After building inputs and modules the worker resets the '
        "kernel's peak-RSS counter (`echo 5 > /proc/self/clear_refs`) and reads `VmRSS`; "
        'after the warm-up and timed runs `VmHWM - VmRSS(start)` is the peak extra resident '
        'memory of forward, backward and the produced gradients (MB = 2^20 bytes) '
        f'(method: `{_memory_method(result)}`). On CUDA the tool reports '
        '`torch.cuda.max_memory_allocated` above the allocation before the first run.',
        '- Train step: `PointDistillerDetector.train_step` (data preprocessor with mmcv '
        'voxelization, student loss, teacher forward under `no_grad` up to the tapped '
        'PillarFeatureNet, KD loss, backward, AdamW step with gradient clipping, as in the '
        'config) with `distill=True` vs `distill=False`, the same student initial weights; '
        'the teacher is randomly initialised (its cost does not depend on its weights). '
        'Student and distill steps alternate, so machine load affects both.', '',
        '## Results', '', format_tables(result), '', format_analysis(result),
    ]
    if result['settings']['quick']:
        text[2:2] = ['**`--quick` run: tiny sizes for the smoke test; the numbers say nothing '
                     'about the method.**', '']
    return '\n'.join(text)


def write_markdown(result: Dict, path: Path) -> None:
    """Write :func:`render_markdown` of ``result`` to ``path``."""
    Path(path).write_text(render_markdown(result))


def _memory_method(result: Dict) -> str:
    """The peak-memory method(s) of the KD-loss cases in ``result``."""
    methods = {result[c][i]['memory_method'] for c in KD_CASES if c in result for i in IMPLS}
    return ', '.join(sorted(methods)) or 'n/a'
