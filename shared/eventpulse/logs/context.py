"""Fields carried on every log line of one unit of work (a request, an ingestion), through contextvars.

A *scope* remembers the fields in force when it opened and restores them when it closes, so fields
bound inside it (``bind_context``) never outlive it. Threads do not inherit contextvars: a function
handed to a thread or a pool is wrapped with ``carry_log_context`` so its lines keep the fields.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_EMPTY: Mapping[str, object] = MappingProxyType({})
_FIELDS: contextvars.ContextVar[Mapping[str, object]] = contextvars.ContextVar(
    "eventpulse_log_fields", default=_EMPTY
)

Scope = contextvars.Token[Mapping[str, object]]


def current_fields() -> Mapping[str, object]:
    """The fields every line logged now carries (read-only)."""
    return _FIELDS.get()


def _merged(fields: Mapping[str, object]) -> Mapping[str, object]:
    # None means "not known here": it neither adds a field nor hides one bound further out.
    added = {key: value for key, value in fields.items() if value is not None}
    return MappingProxyType({**_FIELDS.get(), **added})


def open_scope(**fields: object) -> Scope:
    """Start a scope with ``fields`` added; pass the result to ``close_scope`` (Flask hooks use this)."""
    return _FIELDS.set(_merged(fields))


def close_scope(scope: Scope) -> None:
    """Restore the fields that were in force when ``scope`` opened."""
    _FIELDS.reset(scope)


def bind_context(**fields: object) -> None:
    """Add fields to the current scope; they last until that scope closes."""
    _FIELDS.set(_merged(fields))


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """A scope: lines logged inside carry ``fields`` (and whatever is bound inside it)."""
    scope = open_scope(**fields)
    try:
        yield
    finally:
        close_scope(scope)


def log_scope(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: each call of ``fn`` is a scope, so what it binds is gone when it returns."""

    @functools.wraps(fn)
    def scoped(*args: P.args, **kwargs: P.kwargs) -> R:
        with log_context():
            return fn(*args, **kwargs)

    return scoped


def carry_log_context(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` bound to the fields in force now, for running on another thread.

    Each call runs in a fresh ``contextvars.Context`` holding only the log fields: a pool thread
    reused for the next task starts clean, and no other context (a Flask request's) leaks along.
    """
    fields = _FIELDS.get()

    @functools.wraps(fn)
    def carried(*args: P.args, **kwargs: P.kwargs) -> R:
        context = contextvars.Context()
        context.run(_FIELDS.set, fields)
        return context.run(fn, *args, **kwargs)

    return carried
