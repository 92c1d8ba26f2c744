"""OTLP attribute values as Python values, and token counts read from them strictly."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Counts past this are not a model call but a bug or an attack (usage.py caps the ledger at 10**10 too).
MAX_COUNT = 10**10


class Rejected(ValueError):
    """This record cannot become usage: it is counted in the partial-success answer with this reason."""


def any_value(value: Any) -> Any:
    """An AnyValue message as str/int/float/bool/list/dict (None when unset)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def attributes(pairs: Iterable[Any]) -> dict[str, Any]:
    """Repeated KeyValue as a dict; a key repeated in the record keeps its last value, as SDKs do."""
    result: dict[str, Any] = {}
    for pair in pairs:
        value = pair.value
        kind = value.WhichOneof("value")
        # Scalars inline: this runs for every attribute of every record (the hot path).
        if kind == "string_value":
            result[pair.key] = value.string_value
        elif kind == "int_value":
            result[pair.key] = value.int_value
        else:
            result[pair.key] = any_value(value)
    return result


def count(attrs: dict[str, Any], name: str, *, required: bool = False) -> int:
    """A token count: an int, an integral double or a decimal string (Claude Code sends strings); else Rejected."""
    raw = attrs.get(name)
    if raw is None or raw == "":
        if required:
            raise Rejected(f"{name} is missing")
        return 0
    if isinstance(raw, bool):
        raise Rejected(f"{name} is not a number: {raw!r}")
    if isinstance(raw, int):
        number = raw
    elif (isinstance(raw, float) and raw.is_integer()) or (isinstance(raw, str) and raw.strip().lstrip("-").isdigit()):
        number = int(raw)
    else:
        raise Rejected(f"{name} is not a whole number: {str(raw)[:40]!r}")
    if number < 0:
        raise Rejected(f"{name} is negative ({number})")
    if number > MAX_COUNT:
        raise Rejected(f"{name} is absurdly large ({number})")
    return number


def duration_ms(attrs: dict[str, Any], name: str = "duration_ms") -> int | None:
    """A latency in milliseconds, or None when absent or unusable (latency never rejects a record)."""
    raw = attrs.get(name)
    try:
        value = int(float(raw)) if raw is not None and not isinstance(raw, bool) else None
    except (TypeError, ValueError):
        return None
    return value if value is not None and 0 <= value <= 86_400_000 else None


def text(attrs: dict[str, Any], *names: str) -> str | None:
    """The first of `names` present as a non-empty value, as a stripped string."""
    for name in names:
        raw = attrs.get(name)
        if raw is not None and not isinstance(raw, (list, dict)):
            value = str(raw).strip()
            if value:
                return value
    return None


def decimal_text(attrs: dict[str, Any], name: str) -> str | None:
    """A number kept as text for the record (e.g. the client's own cost figure); None if not a number."""
    raw = attrs.get(name)
    if raw is None or isinstance(raw, bool):
        return None
    try:
        float(raw)
    except (TypeError, ValueError):
        return None
    return str(raw)[:64]
