"""Scrubbing credentials out of error text before it is stored on an outbox row, listed or logged."""

from __future__ import annotations

import re
from collections.abc import Iterable

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
