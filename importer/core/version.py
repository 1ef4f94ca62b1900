"""The package's version (what ``--version`` prints and the result sheet's summary names)."""

__version__ = "0.1.0"
