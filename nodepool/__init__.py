"""Nodepool: the node manager that hands out the nodes Zuul jobs run on."""

__version__ = "0.1.0"
