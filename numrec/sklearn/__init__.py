"""scikit-learn estimators trained by numrec: a drop-in for ``sklearn.neural_network``.

    from numrec.sklearn import MLPClassifier
    clf = MLPClassifier(hidden_layer_sizes=(256,), max_iter=10).fit(X, y)
    clf.predict(X); clf.predict_proba(X); clf.score(X, y)
    net = clf.to_numrec()        # a numrec.Network: save, numrec-eval, export

The parameters keep scikit-learn's names and meanings (``docs/sklearn.md`` lists each one,
what numrec adds, and where the two differ). Needs the extra: ``pip install
'numrec[sklearn]'``.
"""

from __future__ import annotations

try:
    import sklearn  # noqa: F401
except ImportError as e:  # pragma: no cover - the extra is installed wherever tests run
    raise ImportError("numrec.sklearn needs scikit-learn: pip install 'numrec[sklearn]'") from e

from ._base import expected_failed_checks
from .classifier import MLPClassifier
from .regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor", "expected_failed_checks"]
