"""depbot: dependency updates for pip-compile projects, tested, bisected and rolled back."""

__version__ = "0.1.0"
__all__ = ["__version__"]
