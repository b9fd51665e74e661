"""How every command line of the project refuses bad input: one red line, no stack trace.

    from lokaalmeten.cli_errors import fail
    fail("no such spool: /var/lib/lokaalmeten/spool.db")   # prints "error: …", exits 2

Exit code 2 is what typer (and click) use for a usage error; a command may pass another.
"""

from __future__ import annotations

from typing import NoReturn

import typer


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: <message>`` to stderr in red and leave the command with ``code``."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)
