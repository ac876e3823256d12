"""Stage i/N, elapsed time and ETA of a multi-stage run on a stream (the quickstart's and the
benchmarks' progress lines)."""
from __future__ import annotations

import sys
import time
from typing import Dict, List, Optional

__all__ = ['Progress', 'fmt_seconds']


def fmt_seconds(sec: float) -> str:
    """``75`` -> ``'1m15s'``."""
    sec = max(0, int(round(sec)))
    h, rem = divmod(sec, 3600)
    m, s = divmod(rem, 60)
    return f'{h}h{m:02d}m{s:02d}s' if h else (f'{m}m{s:02d}s' if m else f'{s}s')


class Progress:
    """Stage i/N, elapsed time and ETA (per stage and overall) on stdout.

    The overall ETA is the sum of the remaining stages' estimates, each scaled by the ratio of
    measured to estimated time of the stages finished so far (the machine's speed).
    """

    def __init__(self, estimates: Dict[str, float], stream=None,
                 label: str = 'quickstart') -> None:
        self.label = label
        self.estimates = dict(estimates)
        self.names = list(estimates)
        self.t0 = time.perf_counter()
        self.stage_t0 = self.t0
        self.current: Optional[str] = None
        self.spent_est = 0.0
        self.spent_real = 0.0
        self.stream = stream or sys.stdout
        self.times: Dict[str, float] = {}
        self.skipped: List[str] = []

    @property
    def speed(self) -> float:
        """Measured / estimated time of the finished stages (1.0 until 5 s were estimated),
        clamped to [0.2, 5]."""
        if self.spent_est < 5.0:
            return 1.0
        return min(5.0, max(0.2, self.spent_real / self.spent_est))

    def _remaining_after_current(self) -> float:
        """Rescaled estimate of the stages after the current one."""
        if self.current is None:
            return 0.0
        i = self.names.index(self.current)
        return sum(self.estimates[n] for n in self.names[i + 1:]) * self.speed

    def print(self, msg: str) -> None:
        """One line on the stream, flushed."""
        print(msg, file=self.stream, flush=True)

    def start(self, name: str, what: str) -> None:
        """Begin stage ``name`` (a key of the estimates), described by ``what``."""
        self.current = name
        self.stage_t0 = time.perf_counter()
        i = self.names.index(name) + 1
        eta = self.estimates[name] * self.speed + self._remaining_after_current()
        self.print(f'[{self.label} {i}/{len(self.names)}] {what} | elapsed '
                   f'{fmt_seconds(time.perf_counter() - self.t0)}, ETA {fmt_seconds(eta)}')

    def update(self, frac: float, msg: str, stage_eta: Optional[float] = None) -> None:
        """Report progress ``frac`` in [0, 1] of the current stage (``stage_eta``: seconds
        left in it when the caller knows better than a linear extrapolation of ``frac``)."""
        stage_el = time.perf_counter() - self.stage_t0
        if stage_eta is None:
            if frac > 0.02 and stage_el > 1.0:
                stage_eta = stage_el * (1.0 - frac) / frac
            else:
                stage_eta = max(0.0, self.estimates[self.current] * self.speed - stage_el)
        total_eta = stage_eta + self._remaining_after_current()
        i = self.names.index(self.current) + 1
        self.print(f'[{self.label} {i}/{len(self.names)} {self.current}] {msg} | stage '
                   f'{fmt_seconds(stage_el)}, ETA {fmt_seconds(stage_eta)} | total '
                   f'{fmt_seconds(time.perf_counter() - self.t0)}, ETA {fmt_seconds(total_eta)}')

    def finish(self, skipped: bool = False, note: str = '') -> float:
        """End the current stage (``skipped``: reused, not counted in the speed); returns its
        seconds."""
        el = time.perf_counter() - self.stage_t0
        name = self.current
        self.times[name] = el
        if skipped:
            self.skipped.append(name)
            self.estimates[name] = 0.0
        else:
            self.spent_est += self.estimates[name]
            self.spent_real += el
        i = self.names.index(name) + 1
        self.print(f'[{self.label} {i}/{len(self.names)} {name}] '
                   f'{"reused (already done)" if skipped else "done"} in {fmt_seconds(el)}'
                   f'{"; " + note if note else ""} | total '
                   f'{fmt_seconds(time.perf_counter() - self.t0)}, ETA '
                   f'{fmt_seconds(self._remaining_after_current())}')
        return el

    def total(self) -> float:
        """Seconds since the progress was created."""
        return time.perf_counter() - self.t0
