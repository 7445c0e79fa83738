"""Charts as inline SVG, rendered on the server: no chart library, no script.

Each chart is an ``<svg role="img">`` named by its ``<title>`` and ``<desc>``
(``aria-labelledby``), with a ``<title>`` on every bar and point for pointer
users; the page shows the same figures in a table beside it for everyone else.
Values are Decimals; each mark carries ``data-label`` and ``data-value`` so a
test (or a user's script) can read what was drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from markupsafe import Markup, escape

__all__ = ["bar_chart", "fmt", "line_chart"]

Series = Sequence[tuple[str, Decimal]]


def fmt(value: Decimal, places: int = 1) -> str:
    """``1234.56`` -> ``1,234.6``."""
    return f"{value:,.{places}f}"


def _nice_max(top: Decimal) -> Decimal:
    """A round axis maximum at or above ``top`` (1, 2, 2.5 or 5 times a power of ten)."""
    if top <= 0:
        return Decimal(1)
    power = Decimal(10) ** (len(str(int(top))) - 1)
    for step in (1, 2, Decimal("2.5"), 5, 10):
        if top <= power * step:
            return power * step
    return power * 10  # pragma: no cover - the loop always returns


def _frame(chart_id: str, title: str, desc: str, *, width: int, height: int, body: str) -> Markup:
    cid = escape(chart_id)
    # S704: every text put into the markup here and in ``body`` went through escape().
    return Markup(  # noqa: S704
        f'<svg class="chart" id="{cid}" viewBox="0 0 {width} {height}"'
        f' role="img" aria-labelledby="{cid}-title {cid}-desc"'
        f' preserveAspectRatio="xMinYMin meet">'
        f'<title id="{cid}-title">{escape(title)}</title>'
        f'<desc id="{cid}-desc">{escape(desc)}</desc>{body}</svg>'
    )


def bar_chart(
    chart_id: str, title: str, rows: Series, *, unit: str = "t CO2e", places: int = 1
) -> Markup:
    """Horizontal bars, one per row, labelled and valued; longest label on the left."""
    width, label_w, bar_h, gap, top = 520, 120, 22, 10, 8
    height = top * 2 + max(1, len(rows)) * (bar_h + gap)
    scale_max = _nice_max(max((v for _, v in rows), default=Decimal(0)))
    plot_w = width - label_w - 80
    parts: list[str] = []
    if not rows:
        parts.append(f'<text x="10" y="{top + bar_h}" class="muted">no data</text>')
    for n, (label, value) in enumerate(rows):
        y = top + n * (bar_h + gap)
        w = float(value / scale_max) * plot_w if value > 0 else 0.0
        text = f"{label}: {fmt(value, places)} {unit}"
        parts.append(
            f'<g class="mark" data-label="{escape(label)}" data-value="{value}">'
            f"<title>{escape(text)}</title>"
            f'<text x="{label_w - 8}" y="{y + bar_h * 0.7:.1f}" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="3"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + bar_h * 0.7:.1f}" class="value">'
            f"{fmt(value, places)}</text></g>"
        )
    desc = f"{len(rows)} bars in {unit}; the table below lists the same figures."
    return _frame(chart_id, title, desc, width=width, height=height, body="".join(parts))


def line_chart(
    chart_id: str, title: str, points: Series, *, unit: str = "t CO2e", places: int = 1
) -> Markup:
    """A line through one point per label (months), with a labelled y axis."""
    width, height, left, right, top, bottom = 640, 260, 64, 16, 16, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    scale_max = _nice_max(max((v for _, v in points), default=Decimal(0)))
    parts: list[str] = []
    for tick in range(5):
        v = scale_max * tick / 4
        y = top + plot_h - plot_h * tick / 4
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">'
            f"{fmt(v, 0)}</text>"
        )
    step = plot_w / max(1, len(points) - 1) if len(points) > 1 else 0.0
    coords: list[tuple[float, float]] = []
    for n, (label, value) in enumerate(points):
        x = left + (n * step if len(points) > 1 else plot_w / 2)
        y = top + plot_h - float(value / scale_max) * plot_h
        coords.append((x, y))
        text = f"{label}: {fmt(value, places)} {unit}"
        parts.append(
            f'<g class="mark" data-label="{escape(label)}" data-value="{value}">'
            f"<title>{escape(text)}</title>"
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5"/>'
            f'<text x="{x:.1f}" y="{height - bottom + 18}" text-anchor="middle" class="axis">'
            f"{escape(label[-2:] if len(label) == 7 else label)}</text></g>"
        )
    if coords:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        parts.insert(0, f'<polyline class="line" points="{path}"/>')
    else:
        parts.append(f'<text x="{left + 10}" y="{top + plot_h / 2}" class="muted">no data</text>')
    parts.append(
        f'<text x="12" y="{top + plot_h / 2:.1f}" class="axis"'
        f' transform="rotate(-90 12 {top + plot_h / 2:.1f})" text-anchor="middle">'
        f"{escape(unit)}</text>"
    )
    desc = f"{len(points)} points in {unit}; the table below lists the same figures."
    return _frame(chart_id, title, desc, width=width, height=height, body="".join(parts))
