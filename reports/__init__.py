"""Report tables and the HTML report, built on attribution results."""

__all__: list[str] = []
