"""One-line error output shared by every dnapt command line.

Why not ``rich``: a rich ``Console`` wraps at its width (80 columns whenever stderr is not a
terminal, i.e. in CI logs and pipes), so a long path splits a "one-line" error over several lines
that neither a person grepping a log nor a test can match, and its markup would swallow any
``[...]`` inside a message. Errors therefore go out as plain text, one line, never wrapped.
"""

from __future__ import annotations

import sys


def one_line(message: object) -> str:
    """``message`` as a single line: embedded line breaks become spaces."""
    return " ".join(str(message).split("\n")).replace("\r", " ")


def print_error(prog: str, message: object, kind: str = "error") -> None:
    """Write ``PROG: KIND: MESSAGE`` to stderr on one unwrapped line."""
    print(f"{prog}: {kind}: {one_line(message)}", file=sys.stderr, flush=True)
