"""The background thread that batches usage events to budgetbot, retries, and spools what it cannot send."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from time import monotonic
from typing import Any

from budgetbot_client.batch import Backoff, triage
from budgetbot_client.spool import Spool
from budgetbot_client.transport import Reply, Unreachable

log = logging.getLogger("budgetbot_client")
_WAKE = object()  # queued to wake the thread for flush() and close()


class Sender:
    """Owns the queue; `finish` turns a queued record into the JSON event (or raises ValueError: dropped)."""

    def __init__(self, post: Callable[[list[dict[str, Any]]], Reply], spool: Spool,
                 finish: Callable[[Any], dict[str, Any]], *, max_queue: int, max_batch: int,
                 backoff: Backoff, linger: float = 0.2) -> None:
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self.spool = spool
        self._post = post
        self._finish = finish
        self._max_batch = max_batch
        self._backoff = backoff
        self._linger = linger
        self._wake = threading.Event()
        self._changed = threading.Condition()
        self._stopping = False
        self._closing = False
        self._force_until = 0.0
        self._down_until = 0.0
        self._outages = 0
        self._auth_warned = False
        self._in_flight: list[dict[str, Any]] = []
        self.spool_pending = spool.has_events()
        self._thread = threading.Thread(target=self._run, name="budgetbot-sender", daemon=True)
        self._thread.start()

    # --- caller side -------------------------------------------------------------------------------

    def spool_now(self, items: list[Any]) -> None:
        """On the caller's thread (queue full, or closed): finish the records and write them to the spool."""
        events = [e for e in map(self._finish_or_drop, items) if e is not None]
        if self.spool.append(events):
            self.spool_pending = True

    def flush(self, timeout: float, give_up_when_down: bool = False) -> bool:
        """Deliver what is queued and spooled, waiting at most `timeout` seconds; True when nothing is left.

        With `give_up_when_down` (closing), spooled events are left for the next run once an attempt failed.
        """
        deadline = monotonic() + timeout
        self._force_until = deadline
        self._nudge()
        try:
            with self.queue.all_tasks_done:
                while self.queue.unfinished_tasks:
                    left = deadline - monotonic()
                    if left <= 0 or not self._thread.is_alive():
                        return False
                    self.queue.all_tasks_done.wait(left)
            with self._changed:
                while self.spool_pending:
                    left = deadline - monotonic()
                    if left <= 0 or not self._thread.is_alive() or (give_up_when_down and self._outages):
                        return False
                    if self.queue.empty():
                        self._nudge()
                    self._changed.wait(min(left, 0.05))
            return True
        finally:
            self._force_until = 0.0

    def close(self, timeout: float) -> bool:
        """Flush, stop the thread, and spool whatever is still in memory: nothing is lost at exit."""
        self._closing = True  # no more sleeping between retries: one attempt, then the spool
        delivered = self.flush(timeout, give_up_when_down=True)
        self._stopping = True
        self._nudge()
        self._thread.join(timeout=max(0.1, min(timeout, 1.0)))
        if self._thread.is_alive() and self._in_flight:
            # Stuck in a request: spool its batch too. Should the request succeed after all, the
            # server counts the replay as a duplicate (same event_id, same content).
            self.spool_now(list(self._in_flight))
        leftovers = []
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            if item is not _WAKE:
                leftovers.append(item)
        self.spool_now(leftovers)
        return delivered

    def _nudge(self) -> None:
        self._wake.set()
        try:
            self.queue.put_nowait(_WAKE)
        except queue.Full:
            pass  # the thread has plenty to do already

    # --- the thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping:
            try:
                batch, taken = self._take()
                try:
                    if batch:
                        self._deliver(batch)
                finally:
                    self._done(taken)
                if self.spool_pending and not self._stopping and self._may_try():
                    self._replay()
            except Exception as exc:  # the thread must survive anything; a message, never a traceback
                log.error("budgetbot client: unexpected error in the sender (%s: %s)", type(exc).__name__, exc)
                log.debug("sender error", exc_info=True)
            finally:
                with self._changed:
                    self._changed.notify_all()

    def _take(self) -> tuple[list[Any], int]:
        """Wait for a record, linger for more (a burst becomes one request), take up to a batch.

        Returns the records and how many queue entries were taken (wake-ups included), for task_done().
        """
        wait = 1.0 if self.spool_pending else None
        items: list[Any] = []
        try:
            first = self.queue.get(timeout=wait)
        except queue.Empty:
            return items, 0
        taken = 1
        if first is not _WAKE:
            items.append(first)
            # Sleeping (not waiting on the queue, which would wake us at every put) keeps this thread
            # off the agent's GIL while the agent records a burst; flush() and close() cut it short.
            self._wake.wait(self._linger)
            self._wake.clear()
        while len(items) < self._max_batch:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            taken += 1
            if item is not _WAKE:
                items.append(item)
        return items, taken

    def _done(self, count: int) -> None:
        for _ in range(count):
            self.queue.task_done()

    def _may_try(self) -> bool:
        now = monotonic()
        return now >= self._down_until or now < self._force_until

    def _deliver(self, items: list[Any]) -> None:
        events = [e for e in map(self._finish_or_drop, items) if e is not None]
        if not events:
            return
        if not self._may_try():
            self._to_spool(events)
            return
        self._in_flight = events
        try:
            unsent = self._send(events)
        finally:
            self._in_flight = []
        if unsent:
            self._to_spool(unsent)
            self._went_down()
        else:
            self._came_up()

    def _replay(self) -> None:
        events = self.spool.claim()
        unsent: list[dict[str, Any]] = []
        for start in range(0, len(events), self._max_batch):
            left = self._send(events[start:start + self._max_batch])
            if left:
                unsent = left + events[start + self._max_batch:]
                break
        self.spool.done(unsent)
        if unsent:
            self.spool_pending = True
            self._went_down()
        else:
            if events:
                log.info("budgetbot client: replayed %d spooled usage event(s)", len(events))
                self._came_up()
            self.spool_pending = self.spool.has_events()

    def _to_spool(self, events: list[dict[str, Any]]) -> None:
        if self.spool.append(events):
            self.spool_pending = True

    def _went_down(self) -> None:
        if self._outages == 0:
            log.warning("budgetbot is unreachable: usage events are kept in %s and sent when it is back",
                        self.spool.path)
        self._outages += 1
        self._down_until = max(self._down_until, monotonic() + self._backoff.delay(self._outages + 2))

    def _came_up(self) -> None:
        if self._outages:
            log.info("budgetbot is reachable again")
        self._outages = 0
        self._down_until = 0.0

    def _finish_or_drop(self, item: Any) -> dict[str, Any] | None:
        if isinstance(item, dict) and "_raw" not in item:
            return item
        try:
            return self._finish(item)
        except Exception as exc:  # one unreadable record must not take its batch down with it
            log.warning("budgetbot client: usage event dropped: %s", exc)
            return None

    # --- one batch ------------------------------------------------------------------------------

    def _send(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """POST events with retries; returns those to keep for later (budgetbot down), [] otherwise."""
        attempt = 0
        while events:
            wait: float | None
            try:
                reply = self._post(events)
            except Unreachable as exc:
                log.debug("budgetbot unreachable: %s", exc)
                wait = self._backoff.delay(attempt)
            else:
                if reply.ok:
                    return []
                if reply.status in (401, 403):
                    # The credential, not the event, is wrong: keep the events until the token is fixed.
                    if not self._auth_warned:
                        log.error("budgetbot rejected the API token (HTTP %d): usage events are kept in %s",
                                  reply.status, self.spool.path)
                        self._auth_warned = True
                    return events
                if not reply.retryable:
                    kept = triage(events, reply)
                    if kept is None:  # the server did not say which event is bad: split until it does
                        middle = len(events) // 2
                        return self._send(events[:middle]) + self._send(events[middle:])
                    events = kept
                    continue
                wait = self._backoff.delay(attempt)
                if reply.retry_after is not None:
                    wait = self._backoff.clamp(reply.retry_after)
                    self._down_until = max(self._down_until, monotonic() + wait)
                    if wait > self._backoff.max_inline_wait:
                        return events  # to the spool; replayed once the server's wait is over
            if self._closing or self._stopping or attempt >= self._backoff.retries:
                return events
            attempt += 1
            self._wake.wait(wait)
            self._wake.clear()
        return []
