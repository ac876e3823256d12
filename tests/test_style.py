"""flake8 over the package, the tools and the tests, with ``setup.cfg``'s ``[flake8]`` settings
(line length 100): style findings fail here instead of piling up between reviews. Configs are
left out: their ``_base_`` paths and mmdet3d-style names run past 100 characters by design."""
from pathlib import Path

from flake8.api import legacy  # in setup.cfg's tests extras

REPO = Path(__file__).resolve().parents[1]
CHECKED = ('mmdet3d_pointdistiller', 'tools', 'tests')


def _findings(paths):
    guide = legacy.get_style_guide(config=str(REPO / 'setup.cfg'))  # prints each finding
    report = guide.check_files([str(REPO / p) for p in paths])
    return report.total_errors


def test_flake8_clean():
    assert _findings(CHECKED) == 0, ('flake8 findings: run `python -m flake8 '
                                     + ' '.join(CHECKED) + '` from the repository root')


def test_flake8_catches_a_long_line(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text('x = ' + repr('a' * 120) + '\n')
    assert _findings([bad]) == 1
