"""When to try a row again: backoff with jitter, and every wait made sane (finite, at least a moment, capped)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

MIN_RETRY_SECONDS = 1.0  # even "Retry-After: 0" waits a moment, so a failing row cannot spin


def backoff_delay(attempts: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the `attempts`-th failure: base * 2^(attempts-1), capped, with "equal jitter"
    (half fixed, half random) so a burst of failing rows does not retry in lockstep, yet never retries early."""
    ceiling = min(cap, base * 2 ** min(max(attempts - 1, 0), 64))
    return ceiling / 2 + ceiling / 2 * rand()


def retry_wait(said: float | None, attempts: int, base: float, cap: float,
               rand: Callable[[], float] = random.random) -> float:
    """Seconds until the next try. What the far side said (`said`) is honoured, a little later so waiters do
    not stampede back; without it (or when it is absurd: negative, nan, inf) the backoff. Always between
    MIN_RETRY_SECONDS and `cap`: a header saying "1e12" or a reset in the year 9999 must not park a row for
    ever, nor overflow a datetime."""
    if said is None or not math.isfinite(said) or said < 0:
        wait = backoff_delay(attempts, base, cap, rand)
    else:
        wait = said + min(said * 0.1, 30.0) * rand()
    return min(max(wait, MIN_RETRY_SECONDS), max(cap, MIN_RETRY_SECONDS))
