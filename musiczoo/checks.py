"""Checks for numbers and config fields that come from users (flags, Python calls, bundle
headers): each failure is a ValueError that names the value and what it must be.

Configs are frozen dataclasses; `check_config` verifies every field against its type
annotation (a bundle header is JSON anyone can edit, so "512" where an int belongs must be
refused, not fail later inside Keras) and against the ranges the family declares.
"""
import dataclasses
import math
import typing


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def integer(name, value, minimum=1, maximum=None):
    """`value` as an int in [minimum, maximum]; ValueError naming `name` otherwise."""
    if not _is_int(value):
        try:
            is_whole = float(value) == int(value)
        except (TypeError, ValueError, OverflowError):
            is_whole = False
        if isinstance(value, bool) or not is_whole:
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def optional_integer(name, value, minimum=1, maximum=None):
    return None if value is None else integer(name, value, minimum, maximum)


def positive_number(name, value, maximum=None):
    """`value` as a finite float > 0 (and <= maximum)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value!r}")
    return number


def optional_positive_number(name, value, maximum=None):
    return None if value is None else positive_number(name, value, maximum)


# ---------------------------------------------------------------------------------------
# Config fields


def _matches(value, annotation):
    """Whether a (JSON-decoded or flag-parsed) value fits a config field's annotation."""
    if annotation is typing.Any:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        return any(_matches(value, a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return _is_int(value)
    if annotation is float:
        return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)
    if annotation is str:
        return isinstance(value, str)
    if annotation is tuple or origin is tuple:
        if not isinstance(value, (tuple, list)):
            return False
        args = typing.get_args(annotation)
        item = args[0] if args else None
        # An unparameterised tuple holds numbers or (nested) tuples of them.
        return all(_matches(v, item) if item is not None else _plain(v) for v in value)
    return isinstance(value, annotation)


def _plain(value):
    if isinstance(value, (tuple, list)):
        return all(_plain(v) for v in value)
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def check_config(config, *, at_least=None, fraction=(), positive=()):
    """Validates a frozen config dataclass: every field's type, then the ranges given.

    at_least: {field: minimum} for ints (or tuples of ints: every item);
    fraction: fields that must lie in [0, 1); positive: float fields that must be > 0.
    Raises ValueError naming the config, the field and the value.
    """
    name = getattr(config, "name", type(config).__name__)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{type(config).__name__}: name must be a non-empty string, "
                         f"got {name!r}")
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if not _matches(value, hints[field.name]):
            wanted = getattr(hints[field.name], "__name__", str(hints[field.name]))
            raise ValueError(f"{name}: {field.name} must be {wanted.replace('typing.', '')}, "
                             f"got {value!r}")
    for field, minimum in (at_least or {}).items():
        value = getattr(config, field)
        values = value if isinstance(value, (tuple, list)) else (value,)
        if any(v < minimum for v in values):
            raise ValueError(f"{name}: {field} must be >= {minimum}, got {value!r}")
    for field in fraction:
        if not 0.0 <= getattr(config, field) < 1.0:
            raise ValueError(f"{name}: {field} must lie in [0, 1), got {getattr(config, field)!r}")
    for field in positive:
        if not getattr(config, field) > 0:
            raise ValueError(f"{name}: {field} must be > 0, got {getattr(config, field)!r}")
