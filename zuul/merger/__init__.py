"""The merger: speculative future states of git repositories (see ``doc/gating.rst``)."""
from zuul.merger.merger import MergeFailure, Merger
from zuul.merger.model import MergeItem, MergeMode, MergeOutcome, MergeSpec, ProjectSpec

__all__ = ["MergeFailure", "MergeItem", "MergeMode", "MergeOutcome", "MergeSpec", "Merger",
           "ProjectSpec"]
