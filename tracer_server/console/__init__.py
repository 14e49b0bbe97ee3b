"""The health officials' web console: server-rendered pages (Jinja2), Vietnamese by default."""
