"""Server-side charts (PNG for Slack, SVG for HTML pages): the one renderer the digest, dashboard and retro share."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display on servers
import matplotlib.pyplot as plt

PALETTE = ["#1f6feb", "#d1242f", "#2da44e", "#bf8700", "#8250df", "#57606a"]


def line_chart(title: str, x_labels: Sequence[str], series: dict[str, Sequence[float | None]],
               *, y_label: str = "", dashed: Sequence[str] = (), fmt: str = "png") -> bytes:
    """Lines over shared x labels; names in `dashed` are drawn dashed (ideal lines, budgets, projections).
    A None value leaves a gap (a day not reached yet)."""
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    try:
        positions = list(range(len(x_labels)))
        for index, (name, values) in enumerate(series.items()):
            points = [(x, y) for x, y in zip(positions, values) if y is not None]
            if not points:
                continue
            xs, ys = zip(*points)
            ax.plot(xs, ys, label=name, color=PALETTE[index % len(PALETTE)],
                    linestyle="--" if name in dashed else "-", marker="" if name in dashed else "o",
                    markersize=3)
        ax.set_title(title)
        ax.set_ylabel(y_label)
        step = max(1, len(positions) // 12)  # at most ~12 labels stay readable
        ax.set_xticks(positions[::step], [x_labels[i] for i in positions[::step]], rotation=30, ha="right")
        ax.grid(alpha=0.3)
        if series:
            ax.legend(loc="upper left", fontsize="small")
        return _save(fig, fmt)
    finally:
        plt.close(fig)


def _save(fig, fmt: str) -> bytes:
    if fmt not in {"png", "svg"}:
        raise ValueError("fmt must be png or svg")
    fig.tight_layout()
    buffer = io.BytesIO()
    # No date in SVG metadata, so the same data renders to the same bytes (stable HTML reports).
    fig.savefig(buffer, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    return buffer.getvalue()
