"""The documentation stands alone: every relative link and image in README.md, docs/ and the
config READMEs resolves inside the repository (anchors included), no committed text outside
the tests names a path outside it, and every `python tools/...` / `mim ...` command in a fenced
block names a tool and a config that exist."""
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted([REPO / 'README.md', *(REPO / 'docs').glob('*.md'),
               *(REPO / 'configs').glob('**/README.md'), REPO / 'tests' / 'data' / 'README.md'])
LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)\)')
FENCE = re.compile(r'```[a-z]*\n(.*?)```', re.S)


def slug(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    text = re.sub(r'[`*_]', '', heading.strip().lower())
    text = re.sub(r'[^\w\- ]', '', text)
    return text.replace(' ', '-')


def anchors(md: Path) -> set:
    return {slug(m.group(1)) for m in re.finditer(r'^#+ (.+)$', md.read_text(), re.M)}


def test_the_documentation_pages_exist():
    names = {p.relative_to(REPO).as_posix() for p in DOCS}
    assert {'README.md', 'docs/evidence.md', 'docs/compatibility.md', 'docs/robustness.md',
            'docs/differences.md', 'docs/benchmarks.md', 'docs/development.md'} <= names


@pytest.mark.parametrize('md', DOCS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_and_images_resolve_inside_the_repository(md):
    text = FENCE.sub('', md.read_text())  # commands in code blocks are not links
    bad = []
    for target in LINK.findall(text):
        if re.match(r'^[a-z]+:', target):  # https:, mailto:
            continue
        path, _, anchor = target.partition('#')
        dest = (md.parent / path).resolve() if path else md
        if REPO not in dest.parents and dest != REPO:
            bad.append(f'{target}: outside the repository')
        elif not dest.exists():
            bad.append(f'{target}: {dest.relative_to(REPO)} does not exist')
        elif anchor and dest.suffix == '.md' and anchor not in anchors(dest):
            bad.append(f'{target}: no heading #{anchor} in {dest.relative_to(REPO)}')
    assert not bad, f'{md.relative_to(REPO)}: ' + '; '.join(bad)


def test_no_committed_text_names_a_path_outside_the_repository():
    """``../shared`` is the development workshop, not the user's: nothing the product or its
    documentation needs may live there. Exempt: the CI entry point (it runs beside it) and the
    benchmark records, which keep the input paths they were measured with."""
    out = subprocess.run(['git', 'grep', '-n', '-I', r'\.\./shared', '--', '.', ':!tests/*',
                          ':!.ci/*', ':!benchmarks/*.json'], cwd=REPO, capture_output=True,
                         text=True)
    assert out.returncode == 1 and out.stdout == '', out.stdout  # 1: no match


@pytest.mark.parametrize('md', DOCS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_commands_in_fenced_blocks_name_existing_tools_and_configs(md):
    bad = []
    for block in FENCE.findall(md.read_text()):
        for line in block.replace('\\\n', ' ').splitlines():
            line = line.split('#', 1)[0] if line.lstrip().startswith('#') else line
            for tool in re.findall(r'python (tools/[\w./-]+\.(?:py|sh))', line):
                if not (REPO / tool).is_file():
                    bad.append(tool)
            for tool in re.findall(r'bash (tools/[\w./-]+\.sh)', line):
                if not (REPO / tool).is_file():
                    bad.append(tool)
            for config in re.findall(r'mim (?:train|test) mmdet3d (configs/[\w./-]+\.py)', line):
                if not (REPO / config).is_file():
                    bad.append(config)
    assert not bad, f'{md.relative_to(REPO)} names missing files: {bad}'


def test_readme_is_short_and_says_how_to_distil_early():
    lines = (REPO / 'README.md').read_text().splitlines()
    assert len(lines) <= 250, len(lines)
    at = next(i for i, line in enumerate(lines) if line.startswith('## How to distil'))
    assert at < len(lines) / 2


def _idle_default_tier() -> tuple:
    """``('901 passed', '8 min 13 s')`` from the idle default-tier row of the committed
    ``benchmarks/test_suite_time.md`` (the row whose conditions say nothing else ran)."""
    text = (REPO / 'benchmarks/test_suite_time.md').read_text()
    row = next(line for line in text.splitlines()
               if line.startswith('| default |') and 'nothing else running' in line)
    passed = re.search(r'(\d+) passed', row).group(0)
    wall = re.search(r'\*\*(\d+ min \d+ s)\*\*', row).group(1)
    return passed, wall


@pytest.mark.parametrize('page', ['README.md', 'docs/development.md'])
def test_pages_quote_the_committed_test_suite_time(page):
    """Where a page quotes the default tier's count and idle wall time, they are the record's:
    re-timing the suite changes the record and these pages in the same commit."""
    passed, wall = _idle_default_tier()
    text = ' '.join((REPO / page).read_text().split())  # line wrapping does not matter
    assert f'{passed}, ' in text and wall in text, (page, passed, wall)


def test_readme_quotes_the_committed_quickstart_time():
    """README command 1's time is the quickstart record's outer wall time."""
    record = (REPO / 'benchmarks/quickstart_sim.md').read_text()
    wall = re.search(r'Outer wall time[^*]*\*\*(\d+ min \d+ s)\*\*', record).group(1)
    readme = ' '.join((REPO / 'README.md').read_text().split())
    assert f'takes **{wall}** after set-up' in readme, wall
