"""The dedup window every scheduler shares: recently processed delivery ids in ZooKeeper.

Each scheduler records the delivery ids it processed in its own SQLite window
(:class:`~zuul.scheduler.events.DeliveryStore`). With ZooKeeper the active scheduler also
publishes each answered batch of them, before it answers, as one sequential znode under
:data:`ROOT` (a JSON list of ids; its name carries how many), and deletes the oldest beyond
:data:`KEEP` znodes or :data:`WINDOW` ids (the SQLite window's size). A
scheduler that takes the lock merges them into its own window before it takes events. So a
delivery the previous active scheduler processed is a ``duplicate`` for the next one too:
GitHub's "Redeliver" after a failover, or a webhook worker resubmitting a job whose answer the
dying scheduler never sent.

Publishing is best effort: while ZooKeeper is unreachable the ids are only in the local
window (events are answered as before), and a failover in that time can let a redelivery of
one of them through as new.
"""
from __future__ import annotations

import json
import logging

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoNodeError

log = logging.getLogger(__name__)

ROOT = "/zuul/events/deliveries"
PREFIX = "batch-"  # batch-<ids in it>-<ZooKeeper's 10-digit sequence number>
KEEP = 2000  # batch znodes kept at most (each holds one answered batch: 1 to 512 ids) ...
WINDOW = 100_000  # ... and ids in them at most (also DeliveryStore's default window)
TIMEOUT = 30.0  # seconds for all the reads of load(), or all the deletes of one pruning


def _sequence(name: str) -> str:
    return name[-10:]


def _size(name: str) -> int:
    try:
        return int(name[len(PREFIX):].split("-", 1)[0])
    except ValueError:
        return 1


class SharedDeliveries:
    """Publishes and reads back the delivery-id batches under :data:`ROOT` (blocking calls:
    run them in a thread)."""

    def __init__(self, client: KazooClient, keep: int = KEEP, window: int = WINDOW) -> None:
        self.client = client
        self.keep = keep
        self.window = window
        self._names: list[str] | None = None  # batch znodes, oldest first; None: not listed
        self._ids = 0  # ids in them

    def _listed(self) -> list[str]:
        names = sorted(self.client.get_children(ROOT), key=_sequence)
        self._ids = sum(_size(name) for name in names)
        return names

    def publish(self, deliveries: list[str]) -> None:
        """Store ``deliveries`` as one batch; drop the oldest batches beyond ``keep`` batches
        or ``window`` ids (in steps of a tenth of either, so not one delete per batch).
        Failures are logged, not raised."""
        if not deliveries:
            return
        try:
            path = self.client.create(f"{ROOT}/{PREFIX}{len(deliveries)}-",
                                      json.dumps(deliveries).encode(), sequence=True,
                                      makepath=True)
            if self._names is None:
                self._names = self._listed()
            else:
                self._names.append(path.rsplit("/", 1)[1])
                self._ids += len(deliveries)
            if len(self._names) > self.keep + self.keep // 10 or \
                    self._ids > self.window + self.window // 10:
                drop = 0
                while drop < len(self._names) - 1 and (
                        len(self._names) - drop > self.keep or self._ids > self.window):
                    self._ids -= _size(self._names[drop])
                    drop += 1
                self._delete(self._names[:drop])
                del self._names[:drop]
        except KazooException as exc:
            self._names = None  # listed again next time
            log.warning("Could not publish %d delivery id(s) (%s, ...) to ZooKeeper: %s; they "
                        "are in this scheduler's window only", len(deliveries), deliveries[0],
                        exc)

    def _delete(self, names: list[str]) -> None:
        pending = [self.client.delete_async(f"{ROOT}/{name}") for name in names]
        for result in pending:
            try:
                result.get(timeout=TIMEOUT)
            except NoNodeError:
                pass

    def load(self) -> list[str]:
        """Every published delivery id, oldest first (reads all batches at once)."""
        try:
            names = self._listed()
        except NoNodeError:
            names = []
        reads = [(name, self.client.get_async(f"{ROOT}/{name}")) for name in names]
        deliveries: list[str] = []
        for name, result in reads:
            try:
                data, _stat = result.get(timeout=TIMEOUT)
            except NoNodeError:
                continue  # pruned meanwhile
            try:
                batch = json.loads(data)
            except ValueError:
                log.warning("Ignoring %s/%s: not JSON", ROOT, name)
                continue
            if isinstance(batch, list):
                deliveries.extend(str(delivery) for delivery in batch)
        self._names = names
        return deliveries
