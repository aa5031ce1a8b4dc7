"""The GitHub webhook tier: ``zuul-webhook`` workers behind Apache.

A worker verifies each delivery (:mod:`.verify`), writes it durably to its spool
(:mod:`.spool`), answers 200, and a background :class:`.submitter.Submitter` pushes the
spooled events into the scheduler as gearman jobs, removing each file once the scheduler has
answered. :mod:`.service` ties these into an aiohttp application.
"""
