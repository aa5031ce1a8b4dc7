"""Semaphores: at most ``max`` builds of a tenant hold a semaphore at once.

A job lists the semaphores it needs; its build starts only when it can take all of them and
holds them until it ends. State lives in the scheduler's memory, changed only on the event
loop by the pipeline managers (acquire before a build starts, release when it ends).
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class Semaphores:
    """Holders per ``(tenant, semaphore)``: build uuid -> ``(job name, buildset uuid)``."""

    def __init__(self) -> None:
        self._holders: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}

    def acquire(self, tenant: str, limits: dict[str, int], names: list[str], job: str,
                build_uuid: str, buildset_uuid: str) -> bool:
        """Take every semaphore in ``names`` for the build, or none of them."""
        for name in names:
            held = self._holders.get((tenant, name), {})
            if build_uuid not in held and len(held) >= limits.get(name, 1):
                return False
        for name in names:
            self._holders.setdefault((tenant, name), {})[build_uuid] = (job, buildset_uuid)
            log.info("Build %s (%s) acquired semaphore %s/%s", build_uuid, job, tenant, name)
        return True

    def release(self, tenant: str, build_uuid: str) -> None:
        """Give back every semaphore the build holds."""
        for (sem_tenant, name), held in self._holders.items():
            if sem_tenant == tenant and held.pop(build_uuid, None) is not None:
                log.info("Build %s released semaphore %s/%s", build_uuid, tenant, name)

    def holders(self, tenant: str) -> dict[str, list[dict[str, str]]]:
        """Semaphore name -> its current holders (``job_name``, ``buildset_uuid``)."""
        return {name: [{"job_name": job, "buildset_uuid": buildset}
                       for job, buildset in sorted(held.values())]
                for (sem_tenant, name), held in self._holders.items()
                if sem_tenant == tenant and held}
