"""The one exception type that user-facing input errors raise."""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad user input: a config, workload, mapping or argument.

    The message is one line naming the file (if any), the key path, the offending value and what
    is allowed. The CLI prints it and exits with status 2; library code only raises it.
    """

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None):
        where = []
        if source:
            where.append(str(source))
        if key:
            where.append(key)
        prefix = ": ".join(where)
        text = f"{prefix}: {message}" if prefix else message
        super().__init__(" ".join(text.split()))  # always a single line
        self.source = source
        self.key = key
        self.detail = " ".join(message.split())    # the message without the file and key


class UnknownKeyError(ConfigError):
    """A config key that no loader reads (a typo, or a key of another section)."""


class CapacityError(ConfigError):
    """A tile that does not fit the capacity it is placed in: a search skips such a candidate, where
    any other ConfigError (a bad shape, a missing key) is the user's to see."""


class CompressedCapacityError(CapacityError):
    """Tiles the dense rules accept whose compressed size (payload + metadata; the sparse spec's
    ``capacity: expected | worst``) overflows a capacity: a named mapping none of whose tiles fits, a
    hand-written mapping that does not fit, or a search none of whose dense-legal candidates fits.
    ``overflow`` (``accelsim.sparse.model.Overflow``: level, roles, compressed and available words,
    expected or worst) is the typed cause; callers read it, never the message."""

    def __init__(self, message: str, overflow, *, source: str | None = None, key: str | None = None):
        super().__init__(message, source=source, key=key)
        self.overflow = overflow
