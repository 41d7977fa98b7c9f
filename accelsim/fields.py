"""A typed, path-aware reader over one YAML mapping.

Every spec loader reads its keys through :class:`Fields`, so every bad value produces the same
kind of one-line error: file, key path, value, and what is allowed. ``done()`` rejects unknown keys.
"""

from __future__ import annotations

import builtins
import difflib
import math
import re
from collections.abc import Iterable
from typing import Any

from accelsim.errors import ConfigError, UnknownKeyError

_MISSING = object()


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_YAML11_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _yaml11_hint(value: Any) -> str:
    """YAML 1.1 reads 1e30 as text (a float needs a dot and a signed exponent): say how to write it."""
    if isinstance(value, str) and _YAML11_FLOAT.fullmatch(value.strip()):
        mantissa, exponent = value.strip().lower().split("e")
        mantissa = mantissa if "." in mantissa else mantissa + ".0"
        mantissa = "0" + mantissa if mantissa.lstrip("+-").startswith(".") else mantissa
        exponent = exponent if exponent[0] in "+-" else "+" + exponent
        return f" (YAML reads {value.strip()} as text; write it as {mantissa}e{exponent})"
    return ""


class Fields:
    """Reads keys of one mapping; remembers which were read to reject the rest."""

    def __init__(self, data: Any, source: str, path: str = ""):
        if not isinstance(data, dict):
            raise ConfigError(f"expected a mapping, got {type(data).__name__} {_show(data)}",
                              source=source, key=path or None)
        for key in data:
            if not isinstance(key, str):
                raise ConfigError(f"keys must be strings, got {_show(key)}", source=source, key=path or None)
        self.data = data
        self.source = source
        self.path = path
        self._seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str | None, message: str) -> ConfigError:
        return ConfigError(message, source=self.source, key=self.key(name) if name else (self.path or None))

    def has(self, name: str) -> bool:
        return name in self.data

    def raw(self, name: str, default: Any = _MISSING) -> Any:
        self._seen.add(name)
        if name not in self.data:
            if default is _MISSING:
                close = difflib.get_close_matches(name, [k for k in self.data if k not in self._seen], n=1)
                hint = f"; found unknown key {close[0]!r} (misspelt?)" if close else ""
                raise self.error(name, f"missing required key{hint}")
            return default
        return self.data[name]

    def int(self, name: str, default: Any = _MISSING, *, minimum: int | None = 1,
            maximum: int | None = None) -> int:
        value = self.raw(name, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"expected an integer, got {_show(value)}{_yaml11_hint(value)}")
        if minimum is not None and value < minimum:
            raise self.error(name, f"value {value} is too small: must be >= {minimum}")
        if maximum is not None and value > maximum:
            raise self.error(name, f"value {value} is too large: must be <= {maximum}")
        return value

    def number(self, name: str, default: Any = _MISSING, *, minimum: float | None = None,
               exclusive_min: bool = False, maximum: float | None = None) -> float:
        value = self.raw(name, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(name, f"expected a number, got {_show(value)}{_yaml11_hint(value)}")
        if not math.isfinite(value):
            raise self.error(name, f"expected a finite number, got {_show(value)}")
        if minimum is not None:
            if exclusive_min and value <= minimum:
                raise self.error(name, f"value {value} must be > {minimum}")
            if not exclusive_min and value < minimum:
                raise self.error(name, f"value {value} must be >= {minimum}")
        if maximum is not None and value > maximum:
            raise self.error(name, f"value {value} must be <= {maximum}")
        return float(value)

    def str(self, name: str, default: Any = _MISSING, *, choices: Iterable[str] | None = None) -> str:
        value = self.raw(name, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, str) or not value.strip():
            raise self.error(name, f"expected a non-empty string, got {_show(value)}")
        if choices is not None:
            allowed = sorted(choices)
            if value not in allowed:
                raise self.error(name, f"unknown value {_show(value)}; allowed: {', '.join(allowed)}")
        return value

    def bool(self, name: builtins.str, default: Any = _MISSING) -> bool:
        value = self.raw(name, default)
        if not isinstance(value, bool):
            raise self.error(name, f"expected true or false, got {_show(value)}")
        return value

    def list(self, name: builtins.str, default: Any = _MISSING, *, min_len: builtins.int = 0) -> builtins.list:
        value = self.raw(name, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, list):
            raise self.error(name, f"expected a list, got {_show(value)}")
        if len(value) < min_len:
            raise self.error(name, f"expected at least {min_len} item(s), got {len(value)}")
        return value

    def int_map(self, name: builtins.str, keys: Iterable[builtins.str], *, minimum: builtins.int = 0,
                maximum: builtins.int = 1 << 30) -> tuple[tuple[builtins.str, builtins.int], ...]:
        """An optional mapping from some of ``keys`` to integers: ((key, value), ...) in ``keys``
        order, zero values dropped; () when the key is absent."""
        sub = self.sub(name, None)
        if sub is None:
            return ()
        allowed = tuple(keys)
        for k in sub.data:
            if k not in allowed:
                raise sub.error(k, f"unknown key {k!r}; allowed: {', '.join(allowed)}")
        out = tuple((k, sub.int(k, minimum=minimum, maximum=maximum)) for k in allowed if sub.has(k))
        sub.done()
        return tuple((k, v) for k, v in out if v)

    def sub(self, name: builtins.str, default: Any = _MISSING) -> Fields | Any:
        value = self.raw(name, default)
        if value is default and default is not _MISSING:
            return value
        return Fields(value, self.source, self.key(name))

    def done(self) -> None:
        unknown = [k for k in self.data if k not in self._seen]
        if unknown:
            name = unknown[0]
            known = sorted(self._seen)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UnknownKeyError(f"unknown key{hint}; allowed here: {', '.join(known)}", source=self.source,
                                  key=self.key(name))
