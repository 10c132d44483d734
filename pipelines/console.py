"""The two consoles: results on stdout, progress and diagnostics on stderr."""

from __future__ import annotations

from rich.console import Console

console = Console()
err_console = Console(stderr=True)
