"""The ``userseg`` command line (Typer).

Commands live in :mod:`userseg.cli.app`, output and errors in :mod:`userseg.cli.render`.
"""

from userseg.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
