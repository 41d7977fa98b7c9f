"""Reading YAML documents strictly: one loader for every config file accelsim reads.

Rejects unreadable, empty, binary or non-UTF-8 files, YAML syntax errors and duplicate keys,
always with a one-line :class:`ConfigError` naming the file.

Plain scalars resolve as YAML 1.1's safe loader resolves them, except the base-60 (sexagesimal) ints
and floats: ``2:4`` is the string ``'2:4'`` (an N:M density, ``accelsim.sparse.density``), not
2 * 60 + 4 = 124; ``1:30.5`` stays a string too. Every other int / float spelling is unchanged.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from accelsim.errors import ConfigError

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys and reads base-60 ints / floats as strings."""


# PyYAML's SafeLoader int and float patterns (yaml/resolver.py) without their base-60 alternatives
# ``[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+`` and ``[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*``
_INT = re.compile(r"""^(?:[-+]?0b[0-1_]+
                    |[-+]?0[0-7_]+
                    |[-+]?(?:0|[1-9][0-9_]*)
                    |[-+]?0x[0-9a-fA-F_]+)$""", re.X)
_FLOAT = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
                    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X)
_NUMBER = {"tag:yaml.org,2002:int": _INT, "tag:yaml.org,2002:float": _FLOAT}
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, _NUMBER.get(tag, rx)) for tag, rx in resolvers]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    out: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise ConfigError(f"line {key_node.start_mark.line + 1}: a mapping key must be a scalar") from None
        if key in out:
            raise ConfigError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r}")
        out[key] = loader.construct_object(value_node, deep=deep)
    return out


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _depth(value: Any, limit: int = MAX_DEPTH) -> int:
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, d + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, d + 1) for v in item)
    return deepest


def parse_yaml_text(text: str, source: str) -> Any:
    """Parse YAML text strictly; errors name ``source``."""
    if not text.strip():
        raise ConfigError("file is empty", source=source)
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - SafeLoader subclass
    except ConfigError as exc:
        raise ConfigError(str(exc), source=source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"YAML syntax error: {where}{problem}", source=source) from None
    except (RecursionError, ValueError, TypeError, OverflowError) as exc:
        raise ConfigError(f"YAML could not be read: {type(exc).__name__}", source=source) from None
    if data is None:
        raise ConfigError("file has no content (only comments or blank)", source=source)
    if _depth(data) > MAX_DEPTH:
        raise ConfigError(f"nesting deeper than {MAX_DEPTH} levels", source=source)
    return data


def read_text(path: str | Path) -> str:
    """Read a UTF-8 text file or raise ConfigError naming it."""
    p = Path(path)
    source = str(path)
    if not p.exists():
        raise ConfigError("no such file", source=source)
    if p.is_dir():
        raise ConfigError("is a directory, expected a file", source=source)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read file ({exc.strerror or exc})", source=source) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"file larger than {MAX_FILE_BYTES} bytes", source=source)
    if b"\x00" in raw:
        raise ConfigError("binary file (contains NUL bytes), expected UTF-8 text", source=source)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (bad byte at offset {exc.start})", source=source) from None


def load_yaml(path: str | Path) -> Any:
    """Read and parse one YAML file strictly."""
    return parse_yaml_text(read_text(path), str(path))


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
