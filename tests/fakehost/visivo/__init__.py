"""The host's own package: like Visivo 2.2.1's, it has no ``__version__``."""
