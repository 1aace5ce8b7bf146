import logging

import pytest

_LOGGERS = ("triage", "api", "training", "features", "models", "uvicorn", "uvicorn.error")


@pytest.fixture(autouse=True)
def _restore_logging():
    """CLI commands configure JSON logging for the process; put the loggers back for other tests (caplog)."""
    saved = {n: (lg.handlers[:], lg.level, lg.propagate) for n in _LOGGERS for lg in [logging.getLogger(n)]}
    yield
    for name, (handlers, level, propagate) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate
