"""The Zuul scheduler: pipelines, events over gearman, and its in-process API."""
