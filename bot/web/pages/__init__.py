"""The dashboard's pages: one blueprint, a module per page, one CSS file served by the app itself."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint

from bot.web.login import gate

STATIC = Path(__file__).resolve().parents[3] / "static"
bp = Blueprint("dashboard", __name__, static_folder=str(STATIC), static_url_path="/assets")
bp.before_request(gate)

from bot.web.pages import actions, ops, spend, sprint, story  # noqa: E402,F401  (routes attach to bp)
