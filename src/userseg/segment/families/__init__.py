"""The built-in algorithm families, one a module; each registers itself when imported.

:func:`userseg.segment.registry.get_family` imports every module here on first
use, so a new family is one new file (and its tests).
"""
