"""Finding the user's app: ``module:attribute`` strings, ``--app-dir``, factories.

Errors here are the user's to fix, so each is one line naming what is missing
(module, attribute, or why the object is unusable) and the process exits with
status 3, as uvicorn does. An ImportError raised *inside* the user's module is
their bug, not a bad import string: it propagates with their traceback.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import sys
from typing import Any

__all__ = [
    "STARTUP_FAILURE",
    "AppLoadError",
    "ImportFromStringError",
    "import_from_string",
    "resolve_app",
]

logger = logging.getLogger("uvicorn.error")

STARTUP_FAILURE = 3


class ImportFromStringError(Exception):
    """An import string that names no module or attribute (uvicorn's exception name)."""


class AppLoadError(Exception):
    """The app could not be loaded; the message is the one line to show."""


def import_from_string(import_str: Any) -> Any:
    """Import ``module:attr.sub`` (or return a non-string unchanged)."""
    if not isinstance(import_str, str):
        return import_str
    module_str, _, attrs_str = import_str.partition(":")
    if not module_str or not attrs_str:
        raise ImportFromStringError(
            f'Import string "{import_str}" must be in format "<module>:<attribute>".'
        )
    try:
        module = importlib.import_module(module_str)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing != module_str and not module_str.startswith(missing + "."):
            raise  # a module the user's code imports is missing: show their traceback
        raise ImportFromStringError(f'Could not import module "{module_str}".') from None
    instance: Any = module
    try:
        for attr in attrs_str.split("."):
            instance = getattr(instance, attr)
    except AttributeError:
        raise ImportFromStringError(
            f'Attribute "{attrs_str}" not found in module "{module_str}".'
        ) from None
    return instance


def _takes_no_arguments(obj: Any) -> bool:
    """True when ``obj`` can be called with no arguments, judged from its signature."""
    if inspect.isclass(obj):
        return False
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return False
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.default is parameter.empty:
            return False
    return True


def resolve_app(app: Any, factory: bool) -> Any:
    """Import the app and, for a factory, call it once. Raises AppLoadError."""
    try:
        loaded = import_from_string(app)
    except ImportFromStringError as exc:
        raise AppLoadError(f"Error loading ASGI app. {exc}") from None
    if factory:
        if not callable(loaded):
            raise AppLoadError(f"Error loading ASGI app factory: {app!r} is not callable.")
        try:
            loaded = loaded()
        except TypeError as exc:
            raise AppLoadError(f"Error loading ASGI app factory: {exc}") from None
    elif not inspect.iscoroutinefunction(loaded) and _takes_no_arguments(loaded):
        logger.warning(
            "ASGI app factory detected. Using it, but please consider setting the --factory "
            "flag explicitly."
        )
        loaded = loaded()
    if not callable(loaded):
        raise AppLoadError(
            f"Error loading ASGI app. {app if isinstance(app, str) else type(app).__name__!r} "
            f"is not callable (got {type(loaded).__name__})."
        )
    return loaded


def exit_on_load_error(exc: AppLoadError) -> None:
    logger.error("%s", exc)
    sys.exit(STARTUP_FAILURE)
