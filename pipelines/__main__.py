"""``python -m pipelines`` is the ``newswatch`` command."""

from pipelines.cli import main

if __name__ == "__main__":
    main()
