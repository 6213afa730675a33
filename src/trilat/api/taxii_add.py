"""Adding objects to a TAXII collection (TAXII 2.1 §5.4): check, seal, commit, report.

A POST is answered with its status resource (TAXII 2.1 §4.3.1) as soon as the work is done
or after a short wait, whichever comes first; the work goes on in the background and the
resource moves from ``pending`` to ``complete`` with one success or failure per object.

Each object is parsed once: the envelope's JSON once, then checked as STIX 2.1. Objects of
the common types in plain form are checked inline by the fast check
(``adapters._stix_check``, which accepts only what ``stix2`` accepts); the others go through
``adapters.stix.check_stix`` (the ``stix2`` checks, with pattern validation cached by pattern
text), in a pool of worker processes, one per core, when there are many of them (the GIL
would serialise threads), or inline when they are few. Then the label is read from the
markings (fail closed; each distinct set of markings once per envelope, through a
``MarkingReader``) and the accepted objects are sealed and committed with their ``accept``
audit leaves in one transaction by ``Node.originate_many``. Nothing is stored half-way: an
object is either committed with its audit leaf or reported as a failure.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import select
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Final

from trilat.adapters._stix_check import certainly_valid
from trilat.adapters.stix import (
    LABEL_EXTENSION_ID,
    TRILAT_IDENTITY_ID,
    MarkingReader,
    check_stix_all,
    item_from_stix,
)
from trilat.api.node import Node
from trilat.api.problems import Problem
from trilat.core.errors import DecodeError, LabelError, StoreError, TrilatError
from trilat.core.items import Item
from trilat.core.labels import format_banner
from trilat.kinds import parse_body
from trilat.store import User

__all__ = ["AddStatus", "Adder", "Busy", "StatusBook", "Validator", "detail_of"]

_log = logging.getLogger(__name__)

_DEFINITION_IDS: Final = frozenset({TRILAT_IDENTITY_ID, LABEL_EXTENSION_ID})
POOL_THRESHOLD: Final = 64
"""Objects to check below which an envelope is checked inline (the pool's IPC costs more)."""
_MIN_CHUNK: Final = 32
MAX_IN_FLIGHT: Final = 32
"""Adds accepted but not yet complete, per node; past it a POST is refused with 503."""


def detail_of(obj: Any, message: str | None = None) -> dict[str, str]:
    """The status entry of one object: its id, version and (for a failure) the reason."""
    detail = {"id": str(obj.get("id", ""))[:200] if isinstance(obj, dict) else ""}
    if isinstance(obj, dict):
        version = obj.get("modified") or obj.get("created")
        if isinstance(version, str):
            detail["version"] = version[:40]
    if message is not None:
        detail["message"] = message[:500]
    return detail


# --- status resources --------------------------------------------------------------------------


@dataclass(slots=True)
class AddStatus:
    """A status resource being filled in (guarded by its book's lock once booked)."""

    id: str
    user: str
    requested: str
    pendings: list[dict[str, str]]
    successes: list[dict[str, str]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    complete: bool = False

    @property
    def total(self) -> int:
        return len(self.pendings) + len(self.successes) + len(self.failures)

    def resource(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": "complete" if self.complete else "pending",
            "request_timestamp": self.requested,
            "total_count": self.total,
            "success_count": len(self.successes),
            "successes": list(self.successes),
            "failure_count": len(self.failures),
            "failures": list(self.failures),
            "pending_count": len(self.pendings),
            "pendings": list(self.pendings),
        }


class StatusBook:
    """Status resources of recent adds, readable by the user who made them.

    In memory (the most recent, up to *capacity* per-object entries in all): a status
    reports on a request, and its objects and their ``accept`` audit leaves are durable in
    the store whatever happens to it. A pending status is never dropped.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._size = 0
        self._lock = threading.Lock()
        self._book: OrderedDict[str, AddStatus] = OrderedDict()

    def put(self, status: AddStatus) -> None:
        with self._lock:
            self._book[status.id] = status
            self._size += 1 + status.total
            for identifier in list(self._book):
                if self._size <= self._capacity or len(self._book) <= 1:
                    break
                dropped = self._book[identifier]
                if dropped.complete:
                    del self._book[identifier]
                    self._size -= 1 + dropped.total

    def get(self, identifier: str, user: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._book.get(identifier)
            if found is None or found.user != user:
                return None
            return found.resource()

    def settle(
        self,
        status: AddStatus,
        successes: Sequence[dict[str, str]],
        failures: Sequence[dict[str, str]],
    ) -> None:
        """Record the outcome of every pending object of *status* and mark it complete."""
        with self._lock:
            status.successes.extend(successes)
            status.failures.extend(failures)
            status.pendings = []
            status.complete = True


# --- checking STIX in worker processes ---------------------------------------------------------


def _end_with(server: int) -> None:
    """Worker initializer: end this worker when the server process *server* ends.

    A server stopped by a signal exits without shutting its pool down, and the workers
    (children of the fork server, not of the server) would wait for work forever.
    """

    def watch() -> None:
        try:
            handle = os.pidfd_open(server)
        except OSError:  # already gone
            os._exit(0)
        except AttributeError:  # no pidfd here: look every two seconds
            while True:
                time.sleep(2.0)
                try:
                    os.kill(server, 0)
                except ProcessLookupError:
                    os._exit(0)
                except PermissionError:  # the pid now belongs to someone else
                    os._exit(0)
        select.select([handle], [], [])  # readable once the process has ended
        os._exit(0)

    threading.Thread(target=watch, name="taxii-worker-watch", daemon=True).start()


class Validator:
    """``check_stix`` over many objects: the fast check inline; the objects it leaves to
    ``stix2`` inline below *threshold*, else in chunks on a pool of *workers* processes
    (started the first time such objects come, shared by every caller)."""

    def __init__(self, workers: int | None = None, threshold: int = POOL_THRESHOLD) -> None:
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self.threshold = threshold
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._ready = threading.Event()
        self.failed = False

    def _executor(self) -> ProcessPoolExecutor | None:
        """The pool once its workers are up; until then None, and the first call starts them
        in the background (an envelope never waits for worker start-up: it is checked
        inline meanwhile)."""
        with self._lock:
            if self._pool is None:
                methods = multiprocessing.get_all_start_methods()
                method = "forkserver" if "forkserver" in methods else "spawn"
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=multiprocessing.get_context(method),
                    initializer=_end_with,
                    initargs=(os.getpid(),),
                )
                self._ready = threading.Event()
                started = [self._pool.submit(check_stix_all, []) for _ in range(self.workers)]
                ready, counting = self._ready, threading.Lock()
                remaining = [len(started)]

                def one_up(future: Future[list[str | None]]) -> None:
                    if future.exception() is not None:  # workers cannot start here: stay inline
                        _log.warning("taxii.validator_pool_unavailable")
                        self.failed = True
                    with counting:
                        remaining[0] -= 1
                        if remaining[0] == 0:
                            ready.set()

                for future in started:
                    future.add_done_callback(one_up)
            return self._pool if self._ready.is_set() else None

    def warm_up(self) -> None:
        """Start the worker processes now (in the background) if they are not up yet."""
        if self.workers >= 2 and not self.failed:
            self._executor()

    def wait_ready(self, timeout: float) -> bool:
        """Wait up to *timeout* seconds for the workers to be up (tests, benchmarks)."""
        self.warm_up()
        return self._ready.wait(timeout)

    def check(self, objects: Sequence[dict[str, Any]]) -> list[str | None]:
        """None for each valid object, else the reason it is not valid STIX 2.1.

        Objects the fast check vouches for (``certainly_valid``: common types in plain
        form) are done here; only the others go through ``stix2``, in the pool when they
        are many.
        """
        errors: list[str | None] = [None] * len(objects)
        slow = [i for i, obj in enumerate(objects) if not certainly_valid(obj)]
        if slow:
            found = self._check_fully([objects[i] for i in slow])
            for i, error in zip(slow, found, strict=True):
                errors[i] = error
        return errors

    def _check_fully(self, objects: Sequence[dict[str, Any]]) -> list[str | None]:
        if len(objects) < self.threshold or self.workers < 2 or self.failed:
            self.warm_up()  # whoever sends such objects may soon send many
            return check_stix_all(objects)
        pool = self._executor()
        if pool is None:
            return check_stix_all(objects)
        size = max(_MIN_CHUNK, math.ceil(len(objects) / (self.workers * 2)))
        chunks = [list(objects[start : start + size]) for start in range(0, len(objects), size)]
        try:
            results = list(pool.map(check_stix_all, chunks))
        except (BrokenProcessPool, OSError) as exc:  # a worker died: check here instead
            _log.warning("taxii.validator_pool_failed error=%s", type(exc).__name__)
            self.close()
            return check_stix_all(objects)
        return [error for chunk in results for error in chunk]

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


VALIDATOR: Final = Validator()
"""The process-wide validator (one pool of worker processes for every node served here)."""


# --- the add itself ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Candidate:
    obj: dict[str, Any]
    item: Item


class Adder:
    """Runs adds for one node in the background, at most *parallel* envelopes at a time."""

    def __init__(
        self,
        node: Node,
        book: StatusBook,
        validator: Validator = VALIDATOR,
        parallel: int = 2,
        in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self.node, self.book, self.validator = node, book, validator
        self._slots = threading.BoundedSemaphore(in_flight)
        self._executor = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="taxii-add")

    def submit(
        self, topic: str, user: User, objects: list[Any], requested: str
    ) -> tuple[AddStatus, Future[None]]:
        """Book a pending status for *objects* and start adding them to collection *topic*;
        Busy when *in_flight* adds are already under way (memory stays bounded)."""
        if not self._slots.acquire(blocking=False):
            raise Busy(f"{MAX_IN_FLIGHT} adds are in progress; retry later")
        status = AddStatus(
            id=str(uuid.uuid4()),
            user=user.name,
            requested=requested,
            pendings=[detail_of(obj) for obj in objects],
        )
        self.book.put(status)
        return status, self._executor.submit(self._run, status, topic, user, objects)

    def _run(self, status: AddStatus, topic: str, user: User, objects: list[Any]) -> None:
        try:
            successes, failures = self.add(topic, user, objects)
        except Exception as exc:  # never leave a status pending: report every object failed
            _log.exception("taxii.add_crashed topic=%s error=%s", topic, type(exc).__name__)
            successes = []
            failures = [detail_of(obj, "internal error; nothing was added") for obj in objects]
        finally:
            self._slots.release()
        self.book.settle(status, successes, failures)
        _log.info(
            "taxii.add topic=%s user=%s success=%d failure=%d",
            topic,
            user.name,
            len(successes),
            len(failures),
        )

    def add(
        self, topic: str, user: User, objects: list[Any]
    ) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """Check, label, seal and commit *objects*; the per-object successes and failures."""
        node = self.node
        successes: list[dict[str, str]] = []
        failures: list[dict[str, str]] = []
        markings = MarkingReader(
            {
                obj["id"]: obj
                for obj in objects
                if isinstance(obj, dict)
                and obj.get("type") == "marking-definition"
                and isinstance(obj.get("id"), str)
            }
        )
        to_check: list[dict[str, Any]] = []
        for position, obj in enumerate(objects):
            if not isinstance(obj, dict):
                failures.append(detail_of({}, f"objects[{position}] is not a JSON object"))
            elif obj.get("type") == "marking-definition" or obj.get("id") in _DEFINITION_IDS:
                successes.append(
                    detail_of(obj, "definition read to label the other objects; not stored")
                )
            else:
                to_check.append(obj)
        candidates: list[_Candidate] = []
        for obj, error in zip(to_check, self.validator.check(to_check), strict=True):
            if error is not None:
                failures.append(detail_of(obj, error))
                continue
            try:
                candidates.append(_Candidate(obj, self._item(topic, user, obj, markings)))
            except (DecodeError, LabelError, _Refused) as exc:
                failures.append(detail_of(obj, str(exc)))
        if not candidates:
            return successes, failures
        try:
            node.originate_many([c.item for c in candidates], user, via="taxii")
        except StoreError as exc:
            _log.warning("taxii.add_failed topic=%s error=%s", topic, type(exc).__name__)
            failures.extend(
                detail_of(c.obj, "the store refused the write; nothing was added")
                for c in candidates
            )
        except Problem as exc:
            _log.warning("taxii.add_refused topic=%s error=%s", topic, exc)
            failures.extend(detail_of(c.obj, f"{exc}; nothing was added") for c in candidates)
        except TrilatError as exc:
            _log.warning("taxii.add_failed topic=%s error=%s", topic, type(exc).__name__)
            failures.extend(
                detail_of(c.obj, "internal error; nothing was added") for c in candidates
            )
        else:
            successes.extend(detail_of(c.obj) for c in candidates)
        return successes, failures

    def _item(self, topic: str, user: User, obj: dict[str, Any], markings: MarkingReader) -> Item:
        item = item_from_stix(obj, markings, topics=(topic,), checked=True, owner=self.node.nation)
        if user.clearance < item.label.classification:
            raise _Refused(f"the user is not cleared to originate {format_banner(item.label)}")
        parse_body("indicator", item.body)
        return item

    def close(self) -> None:
        self._executor.shutdown(wait=True)


class Busy(Exception):
    """Too many adds are under way to accept another now."""


class _Refused(Exception):
    """One object is refused (reason in the message)."""
