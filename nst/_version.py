"""The version of nst: read by ``nst.__version__``, the recipes and the build (pyproject.toml)."""

__version__ = "0.2.0"
