"""A deterministic crash for the tests of "killed mid-way": ``USERSEG_CRASH_AFTER=step``.

The kill tests used to sleep for a fraction of a measured run and hope the kill
landed inside it (on a loaded machine it sometimes did not). Instead a step that
writes names itself at its commit (:meth:`userseg.io.database.Database.transaction`
with ``step=``), and with ``USERSEG_CRASH_AFTER`` set to that name the process kills
itself with SIGKILL there, after the step's writes and before its COMMIT, as
``kill -9`` would; ``STEP:committed`` kills it just after the commit. The variable
is read here and nowhere else; unset (always, outside those tests) it costs one
dictionary look-up per commit.
"""

from __future__ import annotations

import os
import signal

__all__ = ["ENV", "crash_point"]

ENV = "USERSEG_CRASH_AFTER"


def crash_point(step: str, *, committed: bool = False) -> None:
    """Kill this process (SIGKILL) when ``USERSEG_CRASH_AFTER`` names this point."""
    wanted = os.environ.get(ENV)
    if wanted and wanted == (f"{step}:committed" if committed else step):
        os.kill(os.getpid(), signal.SIGKILL)
