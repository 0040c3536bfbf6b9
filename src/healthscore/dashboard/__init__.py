"""The customer-success dashboard: server-rendered pages, inline SVG charts, live updates."""
