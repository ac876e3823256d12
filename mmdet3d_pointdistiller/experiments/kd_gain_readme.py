"""The README's paragraph on the reporting record, generated from ``benchmarks/kd_gain_sim.json``.

The README quotes the reporting runs' result between two markers (:data:`BEGIN`, :data:`END`);
the text between them is :func:`result_block` of the committed record, so that the README's
numbers change in the same commit as the record (``tests/test_kd_gain_readme.py`` compares
them). ``python tools/benchmark_kd_gain.py --render benchmarks/kd_gain_sim.json`` re-renders
the record and rewrites the block; so does every benchmark run that writes that record.

The verdicts follow the protocol (``benchmarks/protocols/kd_gain_sim.md``): the primary
result is the headline arm's paired 3D gain at 16x over seeds 1-5 (extended up to 10 while
its 95 % half-width exceeds :data:`HALF_WIDTH_TARGET`); until every run of the ratio has
finished, no verdict is stated, and a complete ratio whose interval is still wider than the
target before :data:`MAX_SEEDS` seeds reads "not decided yet", wherever the interval lies: the
protocol stops on the interval's width, not on its position (amendment 1), so an interval
that clears 0 on the way is an interim look, not the result. The other
ratios (4x, seeds 1-3) are secondary: their interval is quoted without a claim and no seeds are
added to them.
"""
from __future__ import annotations

import math
import statistics
import textwrap
from pathlib import Path
from typing import Dict, Sequence

from ..utils.readme_blocks import block_of as _block_of
from ..utils.readme_blocks import replace_block
from .kd_gain_report import format_interval

__all__ = ['BEGIN', 'END', 'HALF_WIDTH_TARGET', 'PRIMARY_RATIO', 'REPORTING_RATIOS', 'block_of',
           'ratio_label', 'result_block', 'update_readme', 'verdict']

BEGIN = ('<!-- reporting record: generated from benchmarks/kd_gain_sim.json by '
         '`python tools/benchmark_kd_gain.py --render benchmarks/kd_gain_sim.json`; '
         'edit mmdet3d_pointdistiller/experiments/kd_gain_readme.py, not this block -->')
END = '<!-- end of the generated reporting record -->'
#: the protocol's precision target for the headline's paired 3D gain (95 % half-width)
HALF_WIDTH_TARGET = 2.0
#: the most seeds the protocol runs for the headline ratio (amendment 1)
MAX_SEEDS = 10
#: the ratios the protocol reports, in order (a ratio not yet in the record is "not started")
REPORTING_RATIOS = ('16x', '4x')
#: the ratio of the primary analysis: the only one with a verdict and the seed extension
PRIMARY_RATIO = '16x'
#: what the README calls each arm
ARM_NAMES = dict(default='default (design (c))', release="release (the paper's design)")
RECORD_LINK = '[`benchmarks/kd_gain_sim.md`](benchmarks/kd_gain_sim.md)'


def _seeds(seeds: Sequence[int]) -> str:
    seeds = list(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f'seeds {seeds[0]}–{seeds[-1]}'
    return ('seed ' if len(seeds) == 1 else 'seeds ') + ', '.join(map(str, seeds))


def ratio_label(ratio: str) -> str:
    """``'16x'`` -> ``'16×'`` (the README's spelling)."""
    return ratio[:-1] + '×' if ratio.endswith('x') else ratio


def _wrap(text: str, bullet: bool = False) -> str:
    """``text`` wrapped at 99 columns (bullets indented by two)."""
    return '\n'.join(textwrap.wrap(text, 99, subsequent_indent='  ' if bullet else '',
                                   break_long_words=False, break_on_hyphens=False))


def _signed(v: float) -> str:
    return f'{v:+.2f}'.replace('-', '−')


def _interval(g: dict) -> str:
    return format_interval(g, verdict=False).replace('-', '−')


def _half_width(g: dict) -> float:
    """Half the width of a :func:`~mmdet3d_pointdistiller.utils.paired_stats.paired_gain`
    interval."""
    return (g['ci95'][1] - g['ci95'][0]) / 2


def verdict(entry: dict, ratio: str = PRIMARY_RATIO) -> str:
    """The protocol's reading of a ratio's headline gain: '' while runs are missing, else one
    sentence: for :data:`PRIMARY_RATIO` not decided yet while the half-width exceeds
    :data:`HALF_WIDTH_TARGET` before :data:`MAX_SEEDS` seeds, else gain / loss / no gain with
    the interval's bounds; for a secondary ratio its interval without a claim."""
    g = entry.get('paired_gain')
    if entry.get('missing') or not g or g['n'] < 2:
        return ''
    lo, hi = g['ci95']
    half = _half_width(g)
    arm = ARM_NAMES.get(entry.get('headline'), entry.get('headline'))
    if ratio != PRIMARY_RATIO:
        return (f'a secondary result: PointDistiller {arm} {_signed(g["mean"])} 3D mAP, 95 % CI '
                f'[{_signed(lo)}, {_signed(hi)}] over {g["n"]} paired seeds; the protocol makes '
                f'no claim on it beyond the interval and adds no seeds to it.')
    if half > HALF_WIDTH_TARGET and g['n'] < MAX_SEEDS:
        where = ('contains 0' if lo <= 0 <= hi else
                 f'lies {"above" if lo > 0 else "below"} 0 for now')
        return (f'**Not decided yet**: the interval of PointDistiller {arm}, [{_signed(lo)}, '
                f'{_signed(hi)}] over {g["n"]} paired seeds, {where} and is wider than '
                f'±{HALF_WIDTH_TARGET:.1f} (half-width {half:.2f}), so seeds are added one at '
                f'a time up to {MAX_SEEDS} (protocol amendment 1).')
    wide = ('' if half <= HALF_WIDTH_TARGET else
            f' (after {MAX_SEEDS} seeds, the protocol\'s maximum, the interval is still wider '
            f'than ±{HALF_WIDTH_TARGET:.1f})')
    if lo > 0:
        return (f'**PointDistiller {arm} improves the student**: {_signed(g["mean"])} 3D mAP, '
                f'95 % CI [{_signed(lo)}, {_signed(hi)}] over {g["n"]} paired seeds{wide}.')
    if hi < 0:
        return (f'**PointDistiller {arm} makes the student worse**: {_signed(g["mean"])} 3D '
                f'mAP, 95 % CI [{_signed(lo)}, {_signed(hi)}] over {g["n"]} paired seeds{wide}.')
    return (f'**No gain was measured** for PointDistiller {arm}: the 95 % interval '
            f'[{_signed(lo)}, {_signed(hi)}] over {g["n"]} paired seeds contains 0 and '
            f'rules out gains above {hi:.2f} and losses beyond {-lo:.2f} 3D mAP{wide}.')


def _ratio_line(ratio: str, entry: dict, teacher_map: float, budget: dict) -> str:
    """One bullet: budget, seeds, the student alone (mean ± sd, % of the teacher) and each
    arm's paired 3D gain with its per-seed differences."""
    head = (f'- **{ratio_label(ratio)}** ({budget.get("iters")} iterations of batch '
            f'{budget.get("batch_size")}, {_seeds(entry["seeds"])})')
    student = [v for v in entry.get('student', []) if v is not None]
    if not student:
        return head + ': no run finished yet.'
    mean = statistics.fmean(student)
    sd = f' ± {statistics.stdev(student):.2f}' if len(student) > 1 else ''
    text = (f'{head}: student alone {mean:.2f}{sd} 3D mAP over '
            f'{len(student)} seed{"s" if len(student) > 1 else ""} '
            f'({100 * mean / teacher_map:.1f} % of the teacher\'s {teacher_map:.2f}'
            + ('; at or above the teacher: no gap for distillation to close'
               if mean >= teacher_map else '') + ')')
    gains = []
    for arm, a in entry.get('arms', {}).items():
        g = a['paired_gain']
        name = ARM_NAMES.get(arm, arm)
        if g['n'] == 0:
            gains.append(f'{name}: no paired seed yet')
        elif g['n'] == 1:
            gains.append(f'{name}: {_signed(g["mean"])} on one seed (no interval)')
        else:
            gains.append(f'{name} {_interval(g)} (n = {g["n"]}; per seed '
                         + ', '.join(_signed(d) for d in g['diffs']) + ')')
    if gains:
        text += '; paired 3D gain over it, 95 % CI: ' + '; '.join(gains)
    g = entry.get('paired_gain')
    if ratio == PRIMARY_RATIO and g and g['n'] >= 2 and not math.isnan(g['ci95'][0]):
        half = _half_width(g)
        if half <= HALF_WIDTH_TARGET:
            state = f'{half:.2f} with {g["n"]} seeds: the extension ended within it'
        elif g['n'] >= MAX_SEEDS:
            state = f'{half:.2f} with {g["n"]} seeds: the extension ended at its maximum'
        else:
            state = f'now {half:.2f} with {g["n"]} seeds'
        text += (f'. The protocol adds seeds, up to {MAX_SEEDS}, while the half-width of the '
                 f'{entry.get("headline")} arm\'s interval exceeds {HALF_WIDTH_TARGET:.1f} '
                 f'({state})')
    return text + '.'


def _diagnostics_line(ratio: str, entry: dict) -> str:
    """One bullet: each KD arm's measured diagnostics at the end of its runs (means over its
    finished seeds, per tap; ``DistillStatsHook``): the KD loss over its mean in the first 100
    iterations and the fraction of the adapters' outputs that are non-zero (teacher / student
    side); '' when no run logged them."""
    parts = []
    for arm in entry.get('arms', {}):
        kds = [r['kd'] for r in entry['runs'].get(arm, {}).values() if r.get('kd')]
        taps = sorted({k[:-len('_loss_ratio')] for d in kds for k in d
                       if k.endswith('_loss_ratio')})
        for tap in taps:
            def mean(key: str) -> str:
                vals = [d[key] for d in kds if d.get(key) is not None]
                return f'{statistics.fmean(vals):.2f}' if vals else '–'
            parts.append(f'{ARM_NAMES.get(arm, arm)} at `{tap}`: KD loss '
                         f'{mean(tap + "_loss_ratio")} of its start, active outputs '
                         f'{mean(tap + "_out_active_t")} / '
                         f'{mean(tap + "_out_active_s")} over {len(kds)} run(s)')
    if not parts:
        return ''
    return (f'- **{ratio_label(ratio)}, measured collapse diagnostics** at the end of the runs '
            '(means; KD loss over its mean in the first 100 iterations, fraction of non-zero '
            'adapter outputs teacher / student side; a collapsed loss reads 0.00 and 0.00 / 0.00): '
            + '; '.join(parts) + '.')


def result_block(rec: dict) -> str:
    """The README block (markers included) for reporting record ``rec``."""
    ratios: Dict[str, dict] = rec.get('ratios', {})
    missing = sum(len(e.get('missing', [])) for e in ratios.values())
    started = [r for r in REPORTING_RATIOS if r in ratios]
    conf = rec.get('confirmatory') or {}
    proto = rec.get('protocol') or {}
    status = []
    if proto:
        status.append(('confirmatory: every run started after the protocol\'s commit '
                       if conf.get('confirmatory') else 'not confirmatory: see the record; '
                       'protocol commit ') + f"`{proto.get('commit', '?')[:7]}`")
    if missing or len(started) < len(REPORTING_RATIOS):
        open_ = [ratio_label(r) for r in started if ratios[r].get('missing')]
        status.append(f'partial: {missing} run(s) missing'
                      + (f" ({', '.join(open_)})" if open_ else '')
                      + ('' if len(started) == len(REPORTING_RATIOS) else
                         ', ' + ' and '.join(ratio_label(r) for r in REPORTING_RATIOS
                                             if r not in ratios)
                         + ' not started')
                      + '; a ratio gets its verdict when its runs are complete')
    lines = [BEGIN, _wrap(f'**The reporting record** ({RECORD_LINK}; ' + '; '.join(status)
                          + '):'), '']
    for ratio in REPORTING_RATIOS:
        if ratio in ratios:
            lines.append(_wrap(_ratio_line(ratio, ratios[ratio], rec['teacher']['map_3d'],
                                           rec.get('budget', {})), bullet=True))
            diag = _diagnostics_line(ratio, ratios[ratio])
            if diag:
                lines.append(_wrap(diag, bullet=True))
        else:
            lines.append(f'- **{ratio_label(ratio)}**: not started (it runs after '
                         f'{ratio_label(REPORTING_RATIOS[0])}).')
    verdicts = [f'{ratio_label(r)}: {v}' for r, v in ((r, verdict(ratios[r], r)) for r in started)
                if v]
    if verdicts:
        lines += [''] + [_wrap(v) for v in verdicts]
    lines.append(END)
    return '\n'.join(lines)


def update_readme(rec: dict, readme: Path) -> bool:
    """Replace the block between :data:`BEGIN` and :data:`END` in ``readme`` with
    :func:`result_block` of ``rec``; returns whether the file changed.

    Raises:
        ValueError: ``readme`` lacks the markers (named in the message).
    """
    return replace_block(readme, BEGIN, END, result_block(rec), 'reporting-record')


def block_of(readme_text: str) -> str:
    """The generated block (markers included) of a README's text, '' if absent."""
    return _block_of(readme_text, BEGIN, END)
