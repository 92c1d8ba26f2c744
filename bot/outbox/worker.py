"""The outbox worker: claims due rows under a lease, sends them, retries with backoff, dead-letters."""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from functools import partial

from bot.components import Registry
from bot.db import Database, utcnow
from bot.outbox import store
from bot.outbox.errors import PermanentError, RetryableError
from bot.outbox.retry import redact, retry_wait
from bot.outbox.sending import SendContext
from bot.outbox.store import Claimed

log = logging.getLogger("bot.outbox.worker")
FLUSH_SECONDS = 1.0  # record finished rows at least this often while a slow batch is still being sent


class Worker:
    """One worker. Several may run at once on PostgreSQL; on SQLite run one."""

    def __init__(self, db: Database, settings, *, clock: Callable[[], datetime] = utcnow,
                 rand: Callable[[], float] = random.random, name: str | None = None) -> None:
        self.db, self.settings, self.clock, self.rand = db, settings, clock, rand
        # The senders of the app this database belongs to (a bare Database has none: every row would go dead).
        self.registry: Registry = db.registry or Registry()
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.lease = timedelta(seconds=settings.outbox_lease_seconds)
        self.paused: dict[str, datetime] = {}  # kind -> until: a limit wider than one key is in force
        self.counts = {"sent": 0, "retried": 0, "dead": 0}

    def run(self, stop: threading.Event) -> None:
        """Send until `stop` is set; the row in hand is finished, the rest of the batch released."""
        log.info("outbox worker %s started (lease %ss, %s tries, batch %s)", self.name,
                 self.settings.outbox_lease_seconds, self.settings.outbox_max_attempts,
                 self.settings.outbox_batch_size)
        dry = self.registry.dry_run_integrations(self.settings)
        if dry:
            log.warning("DRY-RUN for %s: requests are recorded on the rows, not sent "
                        "(see `budgetbot outbox list --dry-run`)", ", ".join(dry))
        while not stop.is_set():
            try:
                batch = self.claim()
                if batch:
                    self.process(batch, stop)
                else:
                    stop.wait(self.settings.outbox_poll_seconds)
            except Exception:  # the database went away, say: keep the process, try again shortly
                log.exception("outbox worker: batch failed; retrying in %ss", self.settings.outbox_poll_seconds)
                stop.wait(self.settings.outbox_poll_seconds)
        log.info("outbox worker %s stopped: %s", self.name, self.counts)

    def drain(self, stop: threading.Event | None = None, retry_once: bool = False) -> int:
        """Claim and send batches until nothing is due. Returns rows sent (or recorded, in dry-run).
        `retry_once`: a row that fails is not tried again in this drain even if it is due again."""
        sent, tried_again = 0, set[int]()
        while stop is None or not stop.is_set():
            batch = self.claim(tried_again if retry_once else set())
            if not batch:
                break
            sent += self.process(batch, stop, tried_again)
        return sent

    def claim(self, skip_ids: Collection[int] = frozenset()) -> list[Claimed]:
        """Lease a batch of due rows (see `store.claim`), skipping the kinds a recorded limit holds back."""
        now = self.clock()
        owner = f"{self.name[:80]}:{uuid.uuid4().hex[:8]}"  # one token per claim (column is 100 chars)
        with self.db.transaction() as session:
            self.paused = {kind: until for kind, until in self.paused.items() if until > now}
            for scope, until in store.active_limits(session, now).items():
                what, _, name = scope.partition(":")
                for kind in self._kinds_in_scope(name, what):
                    self.paused[kind] = max(until, self.paused.get(kind, until))
            return store.claim(session, owner, now, self.lease, self.settings.outbox_batch_size,
                               skip_kinds=sorted(self.paused), skip_ids=skip_ids)

    def process(self, batch: list[Claimed], stop: threading.Event | None = None,
                tried_again: set[int] | None = None) -> int:
        """Send a claimed batch and record the outcomes. Returns rows sent."""
        tried_again = set() if tried_again is None else tried_again
        done: list[tuple[Claimed, list | None, dict | None]] = []
        failed: list[tuple[Claimed, Exception, datetime | None]] = []
        released: list[tuple[Claimed, datetime | None]] = []
        sent, remaining = 0, list(batch)
        dry_runs: dict[str, bool] = {}
        lease_until = min((r.lease_until for r in batch), default=self.clock())
        last_flush = time.monotonic()
        while remaining:
            if stop is not None and stop.is_set():
                released += [(row, None) for row in remaining]
                log.info("outbox worker stopping: %s claimed row(s) handed back unsent", len(remaining))
                break
            row = remaining.pop(0)
            if row.kind in self.paused:  # an earlier row of this batch hit a limit covering this one too
                released.append((row, self.paused[row.kind]))
                continue
            if self.clock() > lease_until - self.lease / 2:  # a slow batch: keep the leases of what is left
                with self.db.transaction() as session:
                    held = store.renew(session, [row, *remaining], self.clock(), self.lease)
                lease_until = self.clock() + self.lease
                remaining = [r for r in remaining if r.id in held]
                if row.id not in held:
                    log.warning("outbox row %s: lease lost before sending; another worker has it", row.id)
                    continue
            try:
                outcome = self._send(row, dry_runs)
                if isinstance(outcome, Exception):
                    failed.append((row, outcome, self._retry_at(row, outcome)))
                    tried_again.add(row.id)
                else:
                    done.append((row, *outcome))
            except Exception as exc:  # a bug handling this one row: retry it later; the batch goes on
                log.error("outbox row %s (%s): could not handle the outcome: %s", row.id, row.kind,
                          redact(f"{type(exc).__name__}: {exc}"))
                failed.append((row, RetryableError(f"{type(exc).__name__} while handling the answer"),
                               self.clock() + timedelta(seconds=self.settings.outbox_backoff_cap_seconds)))
                tried_again.add(row.id)
            if time.monotonic() - last_flush > FLUSH_SECONDS:
                sent += self._record(done, failed, released)
                done, failed, released, last_flush = [], [], [], time.monotonic()
        return sent + self._record(done, failed, released)

    def _send(self, row: Claimed, dry_runs: dict[str, bool]) -> tuple[list | None, dict | None] | Exception:
        registration = self.registry.senders.get(row.kind)
        if registration is None:
            return PermanentError(f"no sender registered for kind {row.kind!r}: is the integration's component "
                                  "listed in bot.components.COMPONENTS?")
        if registration.integration not in dry_runs:
            dry_runs[registration.integration] = self.registry.is_dry_run(self.settings, registration.integration)
        ctx = SendContext(settings=self.settings, dry_run=dry_runs[registration.integration], now=self.clock(),
                          row_id=row.id, attempt=row.attempts, db=self.db)
        try:
            result = registration.send(row.payload, ctx)
        except (RetryableError, PermanentError) as exc:
            return exc
        except Exception as exc:  # a bug or an unwrapped network error: retry, but say so loudly
            log.error("outbox row %s (%s): sender raised\n%s", row.id, row.kind,
                      redact("".join(traceback.format_exception(exc))))
            return RetryableError(f"{type(exc).__name__}: {exc}")
        for request in ctx.recorded:
            log.info("dry-run: row %s (%s) would send %s %s", row.id, row.kind, request["method"], request["url"])
        return (ctx.recorded or None), (result if isinstance(result, dict) else None)

    def _record(self, done: list, failed: list[tuple[Claimed, Exception, datetime | None]],
                released: list[tuple[Claimed, datetime | None]]) -> int:
        """Write outcomes in one transaction: sent rows, retries (with backoff), dead rows, and rows handed
        back unsent. Each failure is written in a savepoint of its own, so one that cannot be written leaves
        the others' outcomes alone. Returns how many rows were sent."""
        if not done and not failed and not released:
            return 0
        now = self.clock()
        with self.db.transaction() as session:
            kept = store.mark_done(session, done, now)
            if kept < len(done):
                log.warning("outbox: %s sent row(s) had lost their lease; another worker may send them again",
                            len(done) - kept)
            for row, exc, due in failed:
                self._isolated(session, row, partial(self._record_failure, session, row, exc, due, now))
            for row, until in released:  # not an attempt: the sender never saw it
                self._isolated(session, row, partial(store.requeue, session, row, until or now, now, None,
                                                     attempted=False))
        self.counts["sent"] += kept
        return kept

    def _isolated(self, session, row: Claimed, write: Callable[[], object]) -> None:
        try:
            with session.begin_nested():
                write()
        except Exception:  # the row stays leased and is tried again when the lease ends; the rest is kept
            log.exception("outbox row %s (%s): could not record its outcome", row.id, row.kind)

    def _retry_at(self, row: Claimed, exc: Exception) -> datetime | None:
        """When to try a failed row again; None: it is dead. A rate limit is not a failure of the row: it
        never dead-letters it. A limit wider than the row pauses its kinds at once, so the rest of this batch
        does not run into the same wall."""
        if isinstance(exc, PermanentError):
            return None
        limited = isinstance(exc, RetryableError) and exc.rate_limited
        if not limited and row.failures >= self.settings.outbox_max_attempts:
            return None
        said = exc.retry_after if isinstance(exc, RetryableError) else None
        wait = retry_wait(said, max(row.failures, 1), self.settings.outbox_backoff_base_seconds,
                          self.settings.outbox_backoff_cap_seconds, self.rand)
        due = self.clock() + timedelta(seconds=wait)
        if isinstance(exc, RetryableError) and exc.scope != "key":
            for kind in self._kinds_in_scope(row.kind, exc.scope):
                self.paused[kind] = max(due, self.paused.get(kind, due))
        return due

    def _record_failure(self, session, row: Claimed, exc: Exception, due: datetime | None, now: datetime) -> None:
        message = redact(str(exc) or type(exc).__name__)
        limited = isinstance(exc, RetryableError) and exc.rate_limited
        if due is None:
            tries = f"{row.failures} attempts" + (f" (and {row.rate_limited} rate-limited tries)"
                                                  if row.rate_limited else "")
            error = message if isinstance(exc, PermanentError) else f"gave up after {tries}; last error: {message}"
            store.mark_dead(session, row, error, now)
            self.counts["dead"] += 1
            log.error("outbox row %s (%s) is dead: %s", row.id, row.kind, error)
            return
        store.requeue(session, row, due, now, f"attempt {row.attempts}: {message}", rate_limited=limited)
        self.counts["retried"] += 1
        log.warning("outbox row %s (%s) attempt %s %s, next try in %.0fs: %s", row.id, row.kind, row.attempts,
                    "rate limited" if limited else "failed", (due - now).total_seconds(), message)
        if isinstance(exc, RetryableError) and exc.scope != "key":
            registration = self.registry.senders.get(row.kind)
            scope = (f"kind:{row.kind}" if exc.scope == "kind" or registration is None
                     else f"integration:{registration.integration}")
            store.hold(session, [scope], due, message, now)
            store.delay_pending(session, self._kinds_in_scope(row.kind, exc.scope), due, now)

    def _kinds_in_scope(self, name: str, scope: str) -> list[str]:
        """The kinds a limit covers: `name` is a kind (scope "kind", or the kind whose answer set an
        "integration" limit) or, for a recorded "integration" limit, the integration's name."""
        if scope == "kind":
            return [name]
        registration = self.registry.senders.get(name)
        integration = registration.integration if registration is not None else name
        return self.registry.kinds_of(integration) or [name]


def run_once(db: Database, settings, now: datetime | None = None) -> int:
    """Send every due row once (a failing row is not retried within the call). Returns how many rows were
    sent (or recorded, in dry-run). Tests drain the outbox with it; `now` fixes the clock."""
    worker = Worker(db, settings, clock=(lambda: now) if now else utcnow, name="run-once")
    return worker.drain(retry_once=True)


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM/SIGINT ask for a graceful stop (finish the row in hand); a second one stops at once."""

    def handle(signum, _frame):
        log.info("outbox worker: %s received, finishing the row in hand", signal.Signals(signum).name)
        stop.set()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
