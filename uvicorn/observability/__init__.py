"""Logging configuration and formatters (metrics and JSON logs join here)."""
