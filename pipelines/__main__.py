"""``python -m pipelines`` is the ``newswatch`` command."""

from pipelines.cli import main

main()
