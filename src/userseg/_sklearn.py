"""What userseg's scikit-learn-shaped estimators share with scikit-learn itself.

:class:`EstimatorNotFittedError` is both userseg's
:class:`~userseg.errors.NotFittedError` (one exception tree, exit code 2) and
scikit-learn's ``NotFittedError`` (what scikit-learn's tooling and estimator
checks catch). It lives here rather than in :mod:`userseg.errors` so that
importing userseg's errors (and starting the command line) does not import
scikit-learn.
"""

from __future__ import annotations

from typing import Any

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

from userseg.errors import NotFittedError

__all__ = ["EstimatorNotFittedError", "require_fitted"]


class EstimatorNotFittedError(NotFittedError, _SklearnNotFittedError):
    """An estimator was used before ``fit`` (a userseg error and scikit-learn's)."""


def require_fitted(estimator: Any, attribute: str) -> None:
    """Raise :class:`EstimatorNotFittedError` unless ``estimator`` has ``attribute``."""
    if not hasattr(estimator, attribute):
        raise EstimatorNotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet; call 'fit' before "
            "using it."
        )
