"""Generated blocks in hand-written Markdown: the text between a ``begin`` and an ``end``
marker line is owned by a renderer (the reporting record's paragraph, the zoo table of the
README), the rest by people. Tests compare a committed block with its renderer's output.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ['block_of', 'replace_block']


def block_of(text: str, begin: str, end: str) -> str:
    """The block of ``text`` from ``begin`` to ``end`` (markers included), '' if either marker
    is absent."""
    if begin not in text or end not in text:
        return ''
    return begin + text.split(begin, 1)[1].split(end, 1)[0] + end


def replace_block(path: Path, begin: str, end: str, block: str, what: str) -> bool:
    """Replace the block between ``begin`` and ``end`` in file ``path`` with ``block`` (which
    starts with ``begin`` and ends with ``end``); returns whether the file changed.

    Raises:
        ValueError: ``path`` lacks a marker; the message names the file, ``what`` the block
            is and both marker lines.
    """
    text = path.read_text()
    if begin not in text or end not in text:
        raise ValueError(f'{path} has no generated {what} block: put the lines {begin!r} and '
                         f'{end!r} where it belongs')
    head, rest = text.split(begin, 1)
    new = head + block + rest.split(end, 1)[1]
    if new == text:
        return False
    path.write_text(new)
    return True
