"""The two consoles: results on stdout, progress and diagnostics on stderr.

When output goes to a file or pipe, tables are rendered 160 columns wide instead
of Rich's default 80, so ids and versions are never cut short.
"""

from __future__ import annotations

import sys

from rich.console import Console

console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
