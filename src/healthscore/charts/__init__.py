"""One SVG chart kit for the dashboard and the backtest report.

Charts are inline SVG strings built on the server from plain numbers: no JavaScript
library, they work offline, print, and tests can read them. Builders are pure functions,
numbers in and escaped ``Markup`` out. ``svg`` holds the pieces every chart is made of;
``bars``, ``lines`` and ``scores`` draw for a page whose stylesheet owns the palette (CSS
classes, no ``style`` attributes, so a strict Content-Security-Policy holds); ``framed``
draws self-contained charts with axes and inline colours for a page that travels alone.
"""
