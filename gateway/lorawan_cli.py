"""``lokaalmeten lorawan``: kits that send over LoRaWAN through The Things Stack.

    lokaalmeten lorawan formatter > lokaalmeten-formatter.js

prints the uplink payload formatter to paste into the application's "Payload formatters"
(Custom Javascript formatter), made from the kits' frame table (docs/protocol.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lokaalmeten.cli_errors import fail

lorawan_app = typer.Typer(
    help="LoRaWAN kits through The Things Stack: the payload formatter of the kits' frames.",
    no_args_is_help=True,
)


@lorawan_app.command("formatter")
def formatter(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write it to this file instead of printing it."),
    ] = None,
) -> None:
    """Print The Things Stack's uplink payload formatter (JavaScript) for the kits' frames.

    Paste it as the application's Custom Javascript formatter; the console then shows each
    uplink's readings. The gateway decodes the frames itself, so the readings are kept the
    same whether a formatter is set or not."""
    from lokaalmeten.protocol.lora_frame import payload_formatter

    text = payload_formatter()
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text)
    except OSError as exc:
        fail(f"cannot write {output}: {exc}")
    typer.echo(f"wrote the payload formatter to {output}", err=True)
