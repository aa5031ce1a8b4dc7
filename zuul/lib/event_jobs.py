"""The event job contract between the webhook workers and the scheduler (doc/internals.rst).

Both sides take its names from here: the gearman function, the most events one job may
carry, and the statuses the scheduler answers an event with.
"""
from __future__ import annotations

import enum

FUNCTION_PREFIX = "zuul:event:"  # + the connection name: one function per connection
MAX_EVENTS = 1000  # events in one job at most (a batch of more is rejected as a whole)


class EventStatus(enum.StrEnum):
    """The scheduler's final answer for one event; none of them is retried."""

    ACCEPTED = "accepted"  # processed now, its delivery id recorded
    DUPLICATE = "duplicate"  # its delivery id was processed before (or is in progress)
    REJECTED = "rejected"  # unusable (not an event): retrying would not help
