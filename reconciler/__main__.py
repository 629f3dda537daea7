"""The ``omnidesk-channels`` script and ``python -m reconciler``: ``--version`` answers before the CLI loads.

``--version`` is what scripts and pre-commit hooks call to check the tool is there; importing
click and the command table for it would triple its start-up. Everything else goes to
``reconciler.cli.main``.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from reconciler import __version__

        print(f"omnidesk-channels {__version__}")
        return
    from reconciler.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
