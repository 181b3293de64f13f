"""The HTTP API: one controller module per resource, errors mapped once in errors.py."""
