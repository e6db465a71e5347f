"""``python -m userseg``: the same as the ``userseg`` command."""

from userseg.cli import main

main()
