"""After a failed try: when to try again (backoff, every wait made sane) and the error text kept (scrubbed)."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterable

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


MASK = "***"
# What a credential looks like when an upstream echoes our request back (Jira has echoed the Authorization
# header, Slack and GitHub their tokens): each pattern keeps what names the credential, masks the rest.
PATTERNS = [
    # Authorization: Basic …, "Authorization": "Bearer …", authorization=token …
    (re.compile(r"(?i)(\bauthorization\b[\"']?\s*[:=]\s*[\"']?)(?:(basic|bearer|token)\s+)?[^\s\"',;}]+"),
     lambda m: f"{m.group(1)}{m.group(2) + ' ' if m.group(2) else ''}{MASK}"),
    (re.compile(r"(?i)\b(basic|bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), lambda m: f"{m.group(1)} {MASK}"),
    (re.compile(r"\bxox[a-z]-[A-Za-z0-9-]+"), lambda m: f"xox…-{MASK}"),  # Slack tokens
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{16,}"), lambda m: f"{m.group(0)[:4]}{MASK}"),  # GitHub tokens
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), lambda m: f"github_pat_{MASK}"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), lambda m: f"<jwt {MASK}>"),
    (re.compile(r"(?i)([?&](?:access_token|token|api_key|apikey|password|secret)=)[^&\s]+"),
     lambda m: f"{m.group(1)}{MASK}"),
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), lambda m: f"{m.group(1)}{MASK}@"),
]


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every known secret value and everything shaped like a credential replaced by ***."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, MASK)
    for pattern, replace in PATTERNS:
        text = pattern.sub(replace, text)
    return text
