"""The one exception tree of userseg.

Every error userseg raises on purpose is a :class:`UsersegError`; anything else
escaping the library is a bug. The command line maps ``exit_code`` onto the
process exit status (2 for bad input or configuration, 1 for a bug) and the
service maps ``http_status`` onto its one JSON error shape.

::

    UsersegError                    base; never raised itself
    ├── DataError                   input data is unreadable, empty or invalid      (exit 2)
    │   └── SchemaError             a named column is missing or has the wrong kind  (exit 2)
    ├── ConfigError                 a parameter or config file is invalid            (exit 2)
    │   └── ParameterError          a parameter's value, named as the user typed it  (exit 2)
    ├── NotFoundError               a run, model, table or segment does not exist    (exit 2)
    ├── NotFittedError              an estimator was used before ``fit``             (exit 2)
    ├── DatabaseError               the userseg database cannot be used              (exit 2)
    │   └── DatabaseLockedError     another process is writing to the database       (exit 2)
    ├── ExportError                 an export cannot be written or delivered          (exit 2)
    ├── PrivacyError                an action would expose personal data              (exit 2)
    │   ├── SecretKeyError          a secret key is missing, weak, too readable or wrong (exit 2)
    │   └── PrivacyBudgetError      a differential-privacy budget would be overspent  (exit 2)
    └── DependencyError             an optional extra is not installed                (exit 2)

    UsersegWarning                  base of the warnings userseg emits
    ├── DataQualityWarning          rows dropped or values imputed by a policy
    ├── ConvergenceWarning          an iterative fit stopped at its iteration cap
    ├── ModelAssumptionWarning      the data break an assumption a model relies on
    └── SegmentationWarning         a fitted segmentation may mislead (k at the top of its
                                    range, an outcome clustered as a feature)

Errors carry a one-line message saying what is wrong, where, and what was
expected; ``details`` holds structured context (counts, sample rows) for
reports and JSON output.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConfigError",
    "ConvergenceWarning",
    "DataError",
    "DataQualityWarning",
    "DatabaseError",
    "DatabaseLockedError",
    "DependencyError",
    "ExportError",
    "ModelAssumptionWarning",
    "NotFittedError",
    "NotFoundError",
    "ParameterError",
    "PrivacyBudgetError",
    "PrivacyError",
    "SchemaError",
    "SecretKeyError",
    "SegmentationWarning",
    "UsersegError",
    "UsersegWarning",
]


class UsersegError(Exception):
    """Base class of every error userseg raises on purpose.

    Parameters
    ----------
    message : str
        One line: what is wrong, where, and what was expected.
    details : dict, optional
        Structured context (counts, first bad rows, available columns) that a
        report or a ``--json`` consumer can show.
    """

    exit_code: int = 2
    http_status: int = 400
    code: str = "userseg_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        """The error as the one JSON shape used by the CLI and the service."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class DataError(UsersegError, ValueError):
    """Input data is unreadable, empty, or has values that fail validation.

    Also a :class:`ValueError`, as scikit-learn raises for NaN, wrong shapes and
    other bad input to an estimator.
    """

    code = "data_error"
    http_status = 422


class SchemaError(DataError):
    """A column named in the mapping or config is absent, or has the wrong kind."""

    code = "schema_error"


class ConfigError(UsersegError, ValueError):
    """A parameter or configuration file is invalid.

    Also a :class:`ValueError`, so scikit-learn style callers that catch
    ``ValueError`` on bad parameters keep working.
    """

    code = "config_error"
    http_status = 422


class ParameterError(ConfigError):
    """A parameter's value is invalid; the message names the parameter as the user typed it.

    ``template`` is the message with ``{name}`` where the parameter is named;
    ``details["parameter"]`` keeps its canonical (Python) name and
    ``details["value"]`` the value. The library raises it with the Python name
    (``n_segments``); an edge that knows what the user typed renders it with
    :meth:`worded` (``--k`` on the command line, ``fit.k`` in a pipeline file).
    """

    def __init__(
        self,
        template: str,
        *,
        parameter: str | None = None,
        value: Any = None,
        word: str | None = None,
    ) -> None:
        if parameter is None:  # a plain message, naming no declared parameter
            super().__init__(template)
        else:
            super().__init__(
                template.format(name=word or parameter),
                details={"parameter": parameter, "value": _plain(value)}
                | ({"given_as": word} if word else {}),
            )
        self.template = template
        self.parameter = parameter
        self.value = value

    def worded(self, word: str) -> ParameterError:
        """The same error, naming the parameter ``word`` (what the user typed)."""
        if self.parameter is None:
            return self
        return ParameterError(self.template, parameter=self.parameter, value=self.value, word=word)


def _plain(value: Any) -> Any:
    """``value`` as JSON can hold it (``details`` are printed by ``--json``)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


class NotFoundError(UsersegError, LookupError):
    """A run, model, table or segment that was asked for does not exist."""

    code = "not_found"
    http_status = 404


class NotFittedError(UsersegError, ValueError, AttributeError):
    """An estimator was used before ``fit``.

    Like scikit-learn's ``NotFittedError`` it is both a ``ValueError`` and an
    ``AttributeError`` (what scikit-learn's estimator checks expect); it does
    not derive from it, so that ``import userseg`` (and the command line) need
    not import scikit-learn, which costs over a second.
    """

    code = "not_fitted"
    http_status = 409


class DatabaseError(UsersegError):
    """The userseg database cannot be opened or is of an unknown schema version."""

    code = "database_error"
    http_status = 503


class DatabaseLockedError(DatabaseError):
    """Another process holds the database's single writer lock."""

    code = "database_locked"


class ExportError(UsersegError):
    """An export cannot be written (unwritable path) or delivered (a destination keeps failing)."""

    code = "export_error"
    http_status = 502


class PrivacyError(UsersegError):
    """An action would expose personal data or a segment below the minimum size."""

    code = "privacy_error"
    http_status = 403


class SecretKeyError(PrivacyError):
    """A secret key is missing, too short, readable by others, or does not open what it should.

    Raised by the key store (a key file whose permissions are wider than 0600,
    an empty or short key) and when an encrypted database is opened with the
    wrong key or without one. The message names the file or variable and the
    key id, never the key.
    """

    code = "secret_key_error"


class PrivacyBudgetError(PrivacyError):
    """A differentially private computation would spend more than a data set's budget."""

    code = "privacy_budget_exceeded"


class DependencyError(UsersegError, ImportError):
    """An optional extra (``userseg[serve]``, ``userseg[spark]``, …) is not installed."""

    code = "missing_dependency"
    http_status = 501


class UsersegWarning(UserWarning):
    """Base class of the warnings userseg emits."""


class DataQualityWarning(UsersegWarning):
    """Rows were dropped or values imputed under a stated data policy."""


class ConvergenceWarning(UsersegWarning):
    """An iterative algorithm stopped at its iteration cap before converging."""


class ModelAssumptionWarning(UsersegWarning):
    """The data break an assumption a model relies on (e.g. spend independent of frequency)."""


class SegmentationWarning(UsersegWarning):
    """A fitted segmentation may mislead: the chosen number of segments is the largest
    tried, or a column named like an outcome (a response, churn) was clustered."""
