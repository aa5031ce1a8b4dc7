"""Reporters: where item results go (GitHub; the build history is always written)."""
