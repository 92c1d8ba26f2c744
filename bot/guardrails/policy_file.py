"""Reading the policy TOML: errors that name the key and its line, and reloads on SIGHUP or a changed file."""

from __future__ import annotations

import difflib
import logging
import os
import re
import signal
import threading
import tomllib
from pathlib import Path

from pydantic import BaseModel, ValidationError

from bot.guardrails.policy import Policy, PolicyFile

log = logging.getLogger(__name__)
_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_BARE_OR_QUOTED = r"(?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+)"
_ASSIGN = re.compile(rf"^\s*({_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*=")
_PART = re.compile(r"\"([^\"]*)\"|'([^']*)'|([A-Za-z0-9_-]+)")
_PHRASES = {"int_type": "must be an integer", "int_from_float": "must be an integer",
            "int_parsing": "must be an integer", "bool_type": "must be true or false",
            "model_type": "must be a table", "model_attributes_type": "must be a table",
            "dict_type": "must be a table", "missing": "is required"}


class PolicyError(ValueError):
    """The policy file is unreadable or invalid; the message names each bad key and its line."""


def _keys(text: str) -> list[str]:
    return [next(g for g in m.groups() if g is not None) for m in _PART.finditer(text)]


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Where each table and key is written: ("run", "max_tokens") -> line number (1-based)."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = tuple(_keys(header.group(1)))
            lines.setdefault(table, number)
            continue
        assign = _ASSIGN.match(line)
        if assign:
            path = table + tuple(_keys(assign.group(1)))
            for depth in range(len(table) + 1, len(path) + 1):
                lines.setdefault(path[:depth], number)
    return lines


def _line_of(lines: dict[tuple[str, ...], int], loc: tuple) -> int | None:
    path = tuple(str(part) for part in loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None


def _phrase(error, model: type[BaseModel] | None) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        known = list(model.model_fields) if model else []
        close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
        return "is not a known key" + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind in _PHRASES:
        return _PHRASES[kind]
    ctx = error.get("ctx") or {}
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {"greater_than": "greater than", "greater_than_equal": "at least",
                 "less_than": "less than", "less_than_equal": "at most"}[kind]
        bound = next(iter(ctx.values()), "")
        return f"must be {words} {bound}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return str(error["msg"])


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The model whose fields an unknown key at `loc` is compared with (for 'did you mean')."""
    model: object = PolicyFile
    for part in loc[:-1]:
        if isinstance(model, type) and issubclass(model, BaseModel):
            info = model.model_fields.get(str(part))
            model = None if info is None else info.annotation
        elif getattr(model, "__origin__", None) is dict:  # a name under [agents], [projects] or [labels]
            model = model.__args__[1]  # type: ignore[attr-defined]
        else:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def parse_policy(text: str, source: str = "policy") -> PolicyFile:
    """Validate TOML text as a policy; PolicyError lists '`key` must be …, line N' for each problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from None
    try:
        return PolicyFile.model_validate(data)
    except ValidationError as exc:
        lines = key_lines(text)
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            key = ".".join(str(part) for part in loc) or "(file)"
            line = _line_of(lines, loc)
            where = f", line {line}" if line else ""
            problems.append((line or 0, f"`{key}` {_phrase(error, _model_at(loc))}{where}"))
        raise PolicyError(f"{source}: " + "; ".join(text for _, text in sorted(problems))) from None


def load_policy(settings) -> Policy:
    """The policy named by BUDGETBOT_POLICY_FILE over the environment's defaults (just those when unset)."""
    path = getattr(settings, "policy_file", None)
    if path is None:
        return Policy(settings)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the policy file ({exc.strerror})") from None
    return Policy(settings, parse_policy(text, str(path)), str(path))


class PolicyHolder:
    """The live policy of a process: re-read when the file's mtime or size changes, or after SIGHUP.

    A reload that fails keeps the previous policy (and logs why): a typo must not open every guardrail."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.path = getattr(settings, "policy_file", None)
        self._stamp = self._file_stamp()
        self.policy = load_policy(settings)  # at start-up an invalid file raises: the process must not start
        self._lock = threading.Lock()
        self.reload_requested = False

    def _file_stamp(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def current(self) -> Policy:
        if self.path is None:
            return self.policy
        stamp = self._file_stamp()  # one stat() per preflight: about a microsecond
        if stamp != self._stamp or self.reload_requested:
            with self._lock:
                if stamp != self._stamp or self.reload_requested:
                    self.reload_requested = False
                    self._stamp = stamp
                    try:
                        self.policy = load_policy(self.settings)
                        log.info("guardrail policy reloaded from %s", self.path)
                    except PolicyError as exc:
                        log.error("guardrail policy NOT reloaded, keeping the previous one: %s", exc)
        return self.policy


_holders: list[PolicyHolder] = []


def _on_sighup(signum, frame) -> None:
    for holder in _holders:
        holder.reload_requested = True


def watch_sighup(holder: PolicyHolder) -> None:
    """SIGHUP asks every holder of this process to re-read its file (only the main thread can install it)."""
    _holders[:] = [*[h for h in _holders if h.path is not None][-7:], holder]  # apps of tests come and go
    if not hasattr(signal, "SIGHUP") or threading.current_thread() is not threading.main_thread():
        return
    current = signal.getsignal(signal.SIGHUP)
    if current in (signal.SIG_DFL, None, _on_sighup):
        signal.signal(signal.SIGHUP, _on_sighup)
