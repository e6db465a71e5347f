"""The ``userseg`` command line (Typer): commands in :mod:`userseg.cli.app`, output in :mod:`userseg.cli.render`."""

from userseg.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
