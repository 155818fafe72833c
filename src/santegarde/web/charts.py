"""Charts drawn on the server as SVG: no script, no colour-only meaning (each series has its pattern and its
label, each bar its number), a title and a description for screen readers, and the numbers as a table beside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

# Fill patterns, distinguishable in grey: solid, hatched, dotted, cross-hatched, then again.
PATTERNS = (
    '<pattern id="{id}" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" '
    'fill="#0b4f8a"/></pattern>',
    '<pattern id="{id}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
    '<rect width="6" height="6" fill="#fff"/><rect width="3" height="6" fill="#8a5a00"/></pattern>',
    '<pattern id="{id}" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" '
    'fill="#fff"/><circle cx="3" cy="3" r="1.8" fill="#1e6b2f"/></pattern>',
    '<pattern id="{id}" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" '
    'fill="#fff"/><path d="M0 0L6 6M6 0L0 6" stroke="#a4161a" stroke-width="1.4"/></pattern>',
)
ROW = 18
LABEL_WIDTH = 150
BAR_WIDTH = 380


@dataclass(frozen=True)
class Chart:
    svg: Markup
    rows: Sequence[tuple[str, str, int | str]]  # (group, series, value): the same numbers as a table


def grouped_bars(
    chart_id: str,
    title: str,
    description: str,
    values: dict[tuple[str, str], int],
    series_names: dict[str, str],
    group_names: dict[str, str] | None = None,
) -> Chart:
    """Horizontal bars grouped by their first key (e.g. the day, in its sorting form such as 2026-11-25), one bar
    per series (e.g. the profile); ``group_names`` gives each group's label (e.g. 25 novembre 2026)."""
    named = group_names or {}
    groups = sorted({g for g, _ in values})
    series = sorted({s for _, s in values})
    top = max(values.values(), default=0) or 1
    legend_height = ROW * len(series) + 8
    lines: list[str] = []
    y = legend_height + 4
    for group in groups:
        lines.append(
            f'<text x="0" y="{y + 12}" font-size="12" font-weight="bold">{escape(named.get(group, group))}</text>'
        )
        y += ROW
        for index, s in enumerate(series):
            value = values.get((group, s), 0)
            if not value:
                continue
            width = max(2, round(BAR_WIDTH * value / top))
            label = series_names.get(s, s) or "—"
            lines.append(
                f'<text x="8" y="{y + 12}" font-size="11">{escape(label[:24])}</text>'
                f'<rect x="{LABEL_WIDTH}" y="{y + 2}" width="{width}" height="{ROW - 5}" '
                f'fill="url(#{chart_id}-p{index % len(PATTERNS)})" stroke="#1a1a1a" stroke-width="0.6"/>'
                f'<text x="{LABEL_WIDTH + width + 4}" y="{y + 12}" font-size="11">{value}</text>'
            )
            y += ROW
    legend = "".join(
        f'<rect x="0" y="{4 + i * ROW}" width="14" height="12" fill="url(#{chart_id}-p{i % len(PATTERNS)})" '
        f'stroke="#1a1a1a" stroke-width="0.6"/><text x="20" y="{14 + i * ROW}" font-size="11">'
        f"{escape(series_names.get(s, s) or '—')}</text>"
        for i, s in enumerate(series)
    )
    defs = "".join(p.format(id=f"{chart_id}-p{i}") for i, p in enumerate(PATTERNS))
    height = y + 8
    width = LABEL_WIDTH + BAR_WIDTH + 50
    svg = (
        f'<svg class="graphe" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d">'
        f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(description)}</desc>'
        f"<defs>{defs}</defs>{legend}{''.join(lines)}</svg>"
    )
    rows = [
        (named.get(g, g), series_names.get(s, s) or "—", values[(g, s)])
        for g in groups
        for s in series
        if (g, s) in values
    ]
    return Chart(Markup(svg), rows)  # noqa: S704 - every text above is escaped (html.escape)


@dataclass(frozen=True)
class Measured:
    """One bar of ``limit_bars``: its label, its value, the limit it must stay under, and both as written."""

    label: str
    value: float
    limit: float | None
    written: str  # the value as the reader writes it (e.g. "0,4 %")
    limit_written: str
    over: bool  # beyond the limit (said in words beside the bar, drawn cross-hatched: not by colour alone)


def limit_bars(chart_id: str, title: str, description: str, bars: list[Measured], words: dict[str, str]) -> Chart:
    """Horizontal bars each with its limit drawn as a dashed mark and written; a bar beyond its limit is
    cross-hatched and says so in words (``words``: ``line`` with ``{value}``, ``{limit}`` and ``{verdict}``,
    ``over`` and ``under``); the same numbers as a table (label, value, limit)."""
    top = max([b.value for b in bars] + [b.limit or 0 for b in bars]) or 1.0
    lines: list[str] = []
    y = 4
    for bar in bars:  # the label on its line, the bar under it from the left edge, then the values in words
        width = max(2, round(BAR_WIDTH * bar.value / top))
        pattern = f"{chart_id}-p{3 if bar.over else 0}"
        verdict = words["over"] if bar.over else words["under"]
        said = words["line"].format(value=bar.written, limit=bar.limit_written, verdict=verdict)
        lines.append(
            f'<text x="0" y="{y + 12}" font-size="12" font-weight="bold">{escape(bar.label)}</text>'
            f'<rect x="0" y="{y + ROW + 2}" width="{width}" height="{ROW - 5}" fill="url(#{pattern})" '
            f'stroke="#1a1a1a" stroke-width="0.6"/>'
        )
        if bar.limit is not None:
            at = round(BAR_WIDTH * bar.limit / top)
            lines.append(
                f'<line x1="{at}" y1="{y + ROW}" x2="{at}" y2="{y + 2 * ROW}" stroke="#1a1a1a" stroke-width="2" '
                f'stroke-dasharray="3 2"/>'
            )
        lines.append(f'<text x="0" y="{y + 2 * ROW + 12}" font-size="11">{escape(said)}</text>')
        y += 3 * ROW + 6
    defs = "".join(p.format(id=f"{chart_id}-p{i}") for i, p in enumerate(PATTERNS))
    height = y + 4
    width = BAR_WIDTH + 60
    svg = (
        f'<svg class="graphe" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d">'
        f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(description)}</desc>'
        f"<defs>{defs}</defs>{''.join(lines)}</svg>"
    )
    rows: list[tuple[str, str, int | str]] = [(b.label, b.written, b.limit_written) for b in bars]
    return Chart(Markup(svg), rows)  # noqa: S704 - every text above is escaped (html.escape)
