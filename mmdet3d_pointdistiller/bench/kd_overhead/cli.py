"""KD-overhead benchmark: the memory-bounded PointDistiller loss against the dense original.

Measures (see :mod:`mmdet3d_pointdistiller.bench.kd_overhead`) the KD loss forward + backward,
dense vs ours, at the paper's settings; peak memory and time over M and N; and one training
step with distillation against one without. Writes ``kd_overhead.json`` (the record) and
``kd_overhead.md`` (its report) to ``--out-dir``; ``--render RECORD`` re-renders the report of a
record without measuring.
"""
import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from mmdet3d_pointdistiller.utils.paths import repo_root

from .cases import KD_CASES
from .report import format_tables, render_markdown, write_markdown
from .run import run_benchmark

#: how the recorded command names the tool
TOOL = 'tools/benchmark_kd_overhead.py'
JSON_NAME, MD_NAME = 'kd_overhead.json', 'kd_overhead.md'

__all__ = ['TOOL', 'main', 'parse_args', 'render_record']


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line; ``--out-dir`` defaults to None (``<repository root>/benchmarks``)."""
    parser = argparse.ArgumentParser(prog=TOOL, description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out-dir', default=None,
                        help='where kd_overhead.md / kd_overhead.json are written '
                             '(default: benchmarks/ of the repository root)')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda[:i]'")
    parser.add_argument('--repeats', type=int, default=3, help='timed runs after one warm-up')
    parser.add_argument('--threads', type=int, default=1, help='torch intra-op threads')
    parser.add_argument('--quick', action='store_true', help='tiny sizes (smoke test)')
    parser.add_argument('--pp-pillars', type=int, default=12000,
                        help='pillars per sample of the PointPillars cases')
    parser.add_argument('--train-batch', type=int, default=2,
                        help='copies of the real frame in the train-step batch')
    parser.add_argument('--kitti-dir', default=None,
                        help='folder with the real KITTI frame 000008.bin / 000008.pkl of the '
                             'train step (default: $PD_TEST_DATA/kitti_real, the test data '
                             'folder of tests/conftest.py)')
    parser.add_argument('--cases', nargs='*', choices=KD_CASES, default=None,
                        help='KD-loss cases to run (default: all)')
    parser.add_argument('--skip-sweep', action='store_true')
    parser.add_argument('--skip-train-step', action='store_true')
    parser.add_argument('--profile', action='store_true',
                        help='torch.profiler top operators of the PointPillars cases')
    parser.add_argument('--no-isolate', action='store_true',
                        help='run every case in this process (no peak-memory isolation; '
                             'debugging only)')
    parser.add_argument('--render', metavar='RECORD', default=None,
                        help='measure nothing: render the report of this kd_overhead.json '
                             '(to --out-dir/kd_overhead.md when --out-dir is given, else to '
                             'stdout)')
    args = parser.parse_args(argv)
    for name in ('repeats', 'threads', 'pp_pillars', 'train_batch'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    return args


def render_record(record: Path, out_dir: Optional[Path] = None) -> str:
    """The markdown report of a stored record; written to ``out_dir/kd_overhead.md`` if given.

    Raises:
        FileNotFoundError: ``record`` does not exist.
    """
    record = Path(record)
    if not record.is_file():
        raise FileNotFoundError(f'benchmark record not found: {record}')
    result = json.loads(record.read_text())
    text = render_markdown(result)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / MD_NAME).write_text(text)
    return text


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Run the benchmark (or render a record) as the command line ``argv`` asks.

    Returns:
        dict: the measured result, or the rendered record.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.render is not None:
        out_dir = Path(args.out_dir) if args.out_dir is not None else None
        text = render_record(Path(args.render), out_dir)
        print(text if out_dir is None else f'wrote {out_dir / MD_NAME}')
        return json.loads(Path(args.render).read_text())
    if args.out_dir is None:
        out_dir = repo_root() / 'benchmarks'
    else:
        out_dir = Path(args.out_dir)
    command = ' '.join(['python', TOOL] + [shlex.quote(a) for a in argv])
    result = run_benchmark(args, command)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / JSON_NAME).write_text(json.dumps(result, indent=1) + '\n')
    write_markdown(result, out_dir / MD_NAME)
    print(format_tables(result))
    print(f'wrote {out_dir / MD_NAME} and {out_dir / JSON_NAME}')
    return result
