"""obsgen: memory observability as code for containers."""

__version__ = "0.1.0"
