"""Server-rendered pages of the registry (Jinja2 templates + static CSS)."""
