"""The pieces every chart is made of: numbers as coordinates, elements, the outer ``<svg>``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from markupsafe import Markup, escape

Attribute = str | float | None
"""An attribute value: text is escaped, numbers become coordinates, ``None`` is left out."""


def coordinate(value: float) -> str:
    """Coordinates with at most two decimals: short, stable output."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def element(tag: str, attributes: Mapping[str, Attribute], *children: str) -> str:
    """``<tag a="…">children</tag>``, or ``<tag a="…"/>`` without children.

    Children are markup already (other elements, or text passed through ``escape``).
    """
    attrs = "".join(
        f' {name}="{coordinate(value) if isinstance(value, float | int) else escape(value)}"'
        for name, value in attributes.items()
        if value is not None
    )
    if not children:
        return f"<{tag}{attrs}/>"
    return f"<{tag}{attrs}>{''.join(children)}</{tag}>"


def figure(
    width: float, height: float, label: str, body: Iterable[str], *, css: str | None = None
) -> Markup:
    """The outer element, labelled for assistive technology.

    With ``css`` the chart scales to its container and takes its colours from the page's
    stylesheet; without, it is a standalone drawing of fixed size with its own font (a
    report that must look right when attached to an email).
    """
    if css is not None:
        head = (
            f'<svg class="chart {escape(css)}" viewBox="0 0 {coordinate(width)} '
            f'{coordinate(height)}" width="100%" preserveAspectRatio="xMidYMid meet" '
            f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
            f"<title>{escape(label)}</title>"
        )
    else:
        w, h = coordinate(width), coordinate(height)
        head = (
            f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
            f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg" '
            f'font-family="system-ui, sans-serif" font-size="11">'
        )
    return Markup(head + "".join(body) + "</svg>")


def empty(width: float, height: float, label: str, message: str, css: str) -> Markup:
    """A chart with nothing to draw says so, in words, where the drawing would be."""
    text = element(
        "text",
        {
            "class": "chart-empty",
            "x": width / 2,
            "y": height / 2,
            "text-anchor": "middle",
            "dominant-baseline": "middle",
        },
        escape(message),
    )
    return figure(width, height, f"{label}: {message}", [text], css=css)


def responsive(wide: Markup, narrow: Markup) -> Markup:
    """Both sizes of a chart; CSS shows one. SVG text scales with the drawing, so one
    drawing cannot be readable both in a 600 px card and on a 390 px phone."""
    return Markup(f'<div class="chart-wide">{wide}</div><div class="chart-narrow">{narrow}</div>')
