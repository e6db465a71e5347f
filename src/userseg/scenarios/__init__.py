"""The seed's industry scenarios: generated data with planted groups, and playbooks.

* :func:`generate` / :func:`write`: ``bank``, ``clinic``, ``social`` and
  ``travel`` data (``shop`` is :mod:`userseg.demo`);
* :func:`load_playbook`, :func:`playbook_path`, :func:`match_playbook`: a
  YAML playbook per scenario mapping segments to suggested actions, validated
  against its schema.
"""

from __future__ import annotations

from userseg.scenarios.data import SCENARIOS, generate, write
from userseg.scenarios.playbook import (
    ACTION_TYPES,
    Playbook,
    load_playbook,
    match_playbook,
    playbook_path,
)

__all__ = [
    "ACTION_TYPES",
    "SCENARIOS",
    "Playbook",
    "generate",
    "load_playbook",
    "match_playbook",
    "playbook_path",
    "write",
]
