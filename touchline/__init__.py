"""The ``touchline`` command-line interface (a thin layer over the libraries)."""

__all__: list[str] = []
