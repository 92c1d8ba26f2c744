"""A local JSONL file holding usage events budgetbot could not take yet, shared safely between processes."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import logging
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: threads of one process are still serialized, processes are not
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("budgetbot_client")


def default_spool_path(url: str, token: str) -> Path:
    """Per server and token, under the user's cache dir: events replay to where they were meant to go."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    # The token only enters a one-way hash; it is never written to disk.
    digest = hashlib.sha256(f"{url}\n{token}".encode()).hexdigest()[:16]
    return base / "budgetbot" / f"spool-{digest}.jsonl"


class Spool:
    """Append events; `claim()` takes everything written so far for replay, `done()` puts back what failed."""

    def __init__(self, path: str | os.PathLike[str], max_bytes: int) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._warned_full = False

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # A separate lock file, because the spool itself is deleted when its events are claimed.
            fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing releases the flock

    def append(self, events: list[dict[str, Any]], *, over_limit: bool = False) -> int:
        """Write events; returns how many were kept (none once the spool is at its size limit).

        `over_limit` is for events given back after a failed replay: they were accepted once already.
        """
        if not events:
            return 0
        lines = _lines(events)
        try:
            with self._locked():
                size = self.path.stat().st_size if self.path.exists() else 0
                if size + len(lines) > self.max_bytes and not over_limit:
                    if not self._warned_full:
                        log.error("budgetbot spool %s is full (%d bytes): dropping %d usage event(s)",
                                  self.path, self.max_bytes, len(events))
                        self._warned_full = True
                    return 0
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                with os.fdopen(fd, "ab") as handle:
                    handle.write(lines)
            self._warned_full = False
            return len(events)
        except OSError as exc:
            log.error("cannot write the budgetbot spool %s (%s): %d usage event(s) lost",
                      self.path, exc.strerror or exc, len(events))
            return 0

    def has_events(self) -> bool:
        return self.path.exists() or self._claim_path().exists() or bool(self._stale_claims())

    def claim(self) -> list[dict[str, Any]]:
        """Take the spooled events (and those of processes that died mid-replay) to send them; see done()."""
        mine = self._claim_path()
        try:
            with self._locked():
                sources = self._stale_claims() + ([mine] if mine.exists() else []) + \
                    ([self.path] if self.path.exists() else [])
                if not sources:
                    return []
                events = [event for source in sources for event in _read(source)]
                # While they are being sent the events stay on disk in a claim file of this process, so a
                # crash mid-replay loses nothing: another process adopts claims whose owner is gone.
                tmp = Path(f"{mine}.tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(_lines(events))
                os.replace(tmp, mine)
                for source in sources:
                    if source != mine:
                        source.unlink(missing_ok=True)
                return events
        except OSError as exc:
            log.error("cannot read the budgetbot spool %s (%s)", self.path, exc.strerror or exc)
            return []

    def done(self, unsent: list[dict[str, Any]]) -> None:
        """End a claim: the events not delivered go back into the spool, the claim file is removed."""
        if unsent and self.append(unsent, over_limit=True) < len(unsent):
            return  # could not write them back: the claim file keeps them for this process's next claim
        with contextlib.suppress(OSError):
            self._claim_path().unlink(missing_ok=True)

    def _claim_path(self) -> Path:
        # The pid first: claims of processes that are gone are adopted (see _stale_claims).
        return Path(f"{self.path}.{os.getpid()}.{id(self):x}.claim")

    def _stale_claims(self) -> list[Path]:
        stale = []
        for name in glob.glob(glob.escape(str(self.path)) + ".*.claim"):
            pid = name[len(str(self.path)) + 1:].split(".", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                stale.append(Path(name))
        return stale


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _lines(events: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events).encode()


def _read(path: Path) -> list[dict[str, Any]]:
    events = []
    with open(path, "rb") as handle:
        for line in handle:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash while writing: nothing to recover
            if isinstance(event, dict):
                events.append(event)
    return events
