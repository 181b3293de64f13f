"""Formats and transports: bytes to field dictionaries and back. No money, no database."""
