"""Zuul: the CI gating scheduler, its webhook tier, executor and log streamer."""

__version__ = "0.1.0"
