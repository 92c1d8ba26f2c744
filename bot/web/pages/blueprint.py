"""The dashboard pages' blueprint (its own module, so page modules and the package import no cycle)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint

from bot.web.login import gate

STATIC = Path(__file__).resolve().parents[3] / "static"
bp = Blueprint("dashboard", __name__, static_folder=str(STATIC), static_url_path="/assets")
bp.before_request(gate)
