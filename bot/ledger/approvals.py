"""Approved overruns as a core fact: who accepted a story's overrun, when and why, and its revocation."""

from __future__ import annotations

from decimal import Decimal
from typing import cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from bot.db import utcnow
from bot.ledger import events as hooks
from bot.ledger.keys import project_of
from bot.ledger.tables import Story, StoryApproval


class ApprovalError(ValueError):
    """Nothing to approve or revoke; the message says why."""


def approve(session: Session, key: str, by: str, reason: str | None, source: str, warn_threshold: Decimal,
            reference: str | None = None) -> StoryApproval:
    """Record that `by` accepts KEY's overrun; the story is then `overridden` (not `over`) everywhere."""
    story = _story(session, key)
    current = session.scalar(select(StoryApproval).where(
        StoryApproval.story_key == key, StoryApproval.revoked_at.is_(None), StoryApproval.source == source,
        StoryApproval.reference.is_(None) if reference is None else StoryApproval.reference == reference))
    if current is not None:
        return current
    from bot.ledger.ingest import judge_story  # late: ingest imports this module's neighbours

    before = judge_story(story, warn_threshold).status
    approval = StoryApproval(story_key=key, approved_by=by, approved_at=utcnow(), reason=reason, source=source,
                             reference=reference)
    session.add(approval)
    story.overrun_approved = True
    session.flush()
    change = hooks.StoryChange(story, before, judge_story(story, warn_threshold).status)
    hooks.emit(hooks.BUDGET_CHANGED, session, [change])
    return approval


def revoke(session: Session, key: str, by: str, reason: str | None, warn_threshold: Decimal,
           reference: str | None = None) -> int:
    """Revoke KEY's standing approvals (only those mirroring `reference` when given); rows stay, marked."""
    story = _story(session, key)
    from bot.ledger.ingest import judge_story

    before = judge_story(story, warn_threshold).status
    where = [StoryApproval.story_key == key, StoryApproval.revoked_at.is_(None)]
    if reference is not None:
        where.append(StoryApproval.reference == reference)
    # An UPDATE runs on a cursor: Session.execute is typed as returning Result, which has no rowcount.
    result = cast(CursorResult, session.execute(update(StoryApproval).where(*where).values(
        revoked_by=by, revoked_at=utcnow(), revoke_reason=reason)))
    count = result.rowcount
    standing = session.scalar(select(StoryApproval.id).where(
        StoryApproval.story_key == key, StoryApproval.revoked_at.is_(None)).limit(1))
    story.overrun_approved = standing is not None
    session.flush()
    if count:
        hooks.emit(hooks.BUDGET_CHANGED, session,
                   [hooks.StoryChange(story, before, judge_story(story, warn_threshold).status)])
    return count


def standing(session: Session, key: str) -> StoryApproval | None:
    """The newest approval of KEY that is not revoked."""
    return session.scalar(select(StoryApproval).where(StoryApproval.story_key == key,
                                                      StoryApproval.revoked_at.is_(None))
                          .order_by(StoryApproval.approved_at.desc(), StoryApproval.id.desc()).limit(1))


def _story(session: Session, key: str) -> Story:
    story = session.get(Story, key, with_for_update=True)
    if story is None:
        story = Story(key=key, project=project_of(key), spent_tokens=0, spent_nano_usd=0, events=0,
                      unpriced_events=0, overrun_approved=False)
        session.add(story)
        session.flush()
    return story
