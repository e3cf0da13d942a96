"""Following a growing file, as ``tail -F`` does, and projecting as it goes.

Each cycle ingests what was appended since the checkpoint, then catches the projections up.
A last line still being written waits for its newline, by the rule plain ``ingest`` follows
too (:func:`~fastcommerce.sources.settled`): it is held back until it has one or the file
has not been modified for the pipeline's ``settle`` seconds. The
projections are also caught up when the follower starts and whenever they are behind the
log (another process appended, or an earlier follower was stopped between ingest and
projection), not only after a cycle that appended.

The file is held open between cycles. When it is rotated (renamed away or deleted, and a
new one created at the path), what was written to the old file is read under the followed
path's checkpoint, as before the rotation; then the old file stays open and keeps being
read, under its own name (``live.jsonl.1``; ``live.jsonl.1 (deleted)`` if it has none any
more, as ``/proc`` names it) with a checkpoint of its own that starts where the followed
path's left off, until nothing has been written to it for ``rotation_grace`` seconds: a
writer that has not reopened its file yet loses nothing. Its last line is read then even
without a newline (the file is finished: ``settle`` 0). Meanwhile the new file is read from its start. A
truncated or replaced file no longer matches its checkpoint's fingerprint and is read from
the start, its known records counted as duplicates. At start, files rotated away with
lines no follower read (appended after the last one stopped, or within its grace period)
are found by their checkpoints (:func:`~fastcommerce.rotation.rotated_away`) and read like
retired files; so is the copy that logrotate's ``copytruncate`` makes before it empties the
followed file in place.

The catalog is one JSON document, not a stream of lines: it is read again only when the
file changed (size, modification time or inode) and then stayed unchanged for one poll,
so a catalog being rewritten is not read half-written.

Alert rules are not evaluated here: :class:`BackgroundAlerts` evaluates them on a thread
and connection of its own, at most every ``interval`` seconds, so a slow rule or a sink
that does not answer never delays the ingest and projection of new lines.
"""

from __future__ import annotations

import contextvars
import math
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import attrs

from .errors import SourceError
from .ingest import MessageSession, SourceSummary
from .logs import get_logger
from .message_sources import MessageSource
from .protocols import PipelineLike
from .rotation import rotated_away
from .source_files import compression, source_id

logger = get_logger(__name__)

DEFAULT_ROTATION_GRACE = 2.0
"""Seconds a rotated-away file must stay unchanged before the follower stops reading it."""

DEFAULT_ALERT_INTERVAL = 10.0
"""At most one alert evaluation per this many seconds while following."""


def _fd_path(fh: IO[bytes]) -> Path | None:
    candidate = Path(f"/proc/self/fd/{fh.fileno()}")
    return candidate if candidate.exists() else None


def _check_followable(path: Path) -> os.stat_result | None:
    """The path's stat if it is a readable regular file, ``None`` if it does not exist
    (yet); a clear :class:`SourceError` otherwise."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror})") from exc
    if not stat.S_ISREG(st.st_mode):
        raise SourceError(f"{path}: not a regular file")
    kind = compression(path)
    if kind is not None:
        raise SourceError(f"{path}: {kind}-compressed, and --follow reads a file as it grows, which a compressed "
                          "file cannot be read as: ingest it without --follow, or follow the uncompressed file")
    return st


def _open(path: Path) -> IO[bytes] | None:
    try:
        return open(path, "rb")
    except FileNotFoundError:  # gone between stat and open: looked for again next poll
        return None
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror})") from exc


@attrs.define
class _Retired:
    """A file rotated away from the followed path, still read until it has been quiet."""

    fh: IO[bytes]
    identity: Path  # its name now: the checkpoint's and the records' source
    size: int
    quiet_since: float


def follow(
    pipeline: PipelineLike,
    stream: str,
    path: str | Path,
    *,
    poll_interval: float = 0.2,
    should_stop: Callable[[], bool] = lambda: False,
    on_cycle: Callable[[SourceSummary], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rotation_grace: float = DEFAULT_ROTATION_GRACE,
    alert_interval: float | None = None,
    on_waiting: Callable[[Path], None] | None = None,
) -> None:
    """Keep ingesting ``path`` into ``stream`` until ``should_stop()`` is true.

    :param rotation_grace: seconds a rotated-away file must stay unchanged before it is
        closed (see the module's documentation).
    :param alert_interval: evaluate the alert rules in the background, at most this often
        and only after something was appended; ``None``: not at all.
    :param on_waiting: called once when ``path`` does not exist (yet); it is waited for.
    """
    path = Path(path)
    log = logger.bind(stream=stream, source=str(path))
    if _check_followable(path) is None:
        log.info("waiting_for_file")
        if on_waiting is not None:
            on_waiting(path)
    alerts = BackgroundAlerts(pipeline, alert_interval) if alert_interval is not None else None
    try:
        if pipeline.streams.get(stream).whole_file:  # one document: read again whole once it changed
            _follow_catalog(pipeline, stream, path, log, poll_interval=poll_interval, should_stop=should_stop,
                            on_cycle=on_cycle, sleep=sleep, alerts=alerts)
        else:
            _follow_lines(pipeline, stream, path, log, poll_interval=poll_interval, should_stop=should_stop,
                          on_cycle=on_cycle, sleep=sleep, rotation_grace=rotation_grace, alerts=alerts)
    finally:
        if alerts is not None:
            alerts.stop()


def follow_messages(pipeline: PipelineLike, stream: str, source: MessageSource, *, poll_interval: float = 0.2,
                    should_stop: Callable[[], bool] = lambda: False,
                    on_cycle: Callable[[SourceSummary], None] | None = None,
                    alert_interval: float | None = None, max_batch_seconds: float = 0.05) -> None:
    """``ingest --follow`` of a broker stream: each cycle waits up to ``poll_interval`` for
    messages after the checkpoint, appends what comes for at most ``max_batch_seconds``
    (committed with the position), and projects it. The broker is asked to wait, not
    polled: a message published while the follower waits is appended at once. The whole
    follower is one ingest run (one ``ingest_runs`` row, updated each cycle); ``on_cycle``
    gets its totals after each cycle that read something."""
    alerts = BackgroundAlerts(pipeline, alert_interval) if alert_interval is not None else None
    session = MessageSession()  # one ingest run for the whole follower, its counts growing
    try:
        _catch_up(pipeline, False, alerts)
        while not should_stop():
            before = (session.summary.read, session.summary.appended) if session.summary else (0, 0)
            summary = pipeline._ingester.ingest_messages(stream, source, wait=poll_interval, drain=False,
                                                         max_seconds=max_batch_seconds, session=session)
            if summary.read > before[0] and on_cycle is not None:
                on_cycle(summary)  # the follower's totals so far
            _catch_up(pipeline, summary.appended > before[1], alerts)
    finally:
        if alerts is not None:
            alerts.stop()


def _projections_behind(pipeline: PipelineLike) -> bool:
    """Whether any projection is behind the log: two small queries, no lock."""
    state = pipeline.projections.state()
    last = pipeline.log.last_offset()
    return any(name not in state or state[name][1] < last for name in pipeline.projections.projections)


def _catch_up(pipeline: PipelineLike, appended: bool, alerts: BackgroundAlerts | None) -> None:
    if appended or _projections_behind(pipeline):
        pipeline.project()
    if appended and alerts is not None:
        alerts.poke()


def _follow_lines(pipeline: PipelineLike, stream: str, path: Path, log, *, poll_interval: float,
                  should_stop: Callable[[], bool], on_cycle: Callable[[SourceSummary], None] | None,
                  sleep: Callable[[float], None], rotation_grace: float,
                  alerts: BackgroundAlerts | None) -> None:
    fh: IO[bytes] | None = None
    ident: tuple[int, int] | None = None  # (device, inode) of the open file
    retired: list[_Retired] = []
    followed = source_id(stream, path)

    def ingest(identity: Path, read_from: Path | None, *, settle: float | None = None,
               on_replaced: Callable[[], None] | None = None) -> int:
        """``settle``: for an unterminated last line, as in plain ``ingest`` (default: the
        pipeline's); 0 for a file known to be finished."""
        summary = pipeline._ingester.ingest_file(stream, identity, read_from=read_from, settle=settle,
                                                 record_empty_run=False, on_replaced=on_replaced)
        if on_cycle is not None:
            on_cycle(summary)
        return summary.appended

    def name_of(fh: IO[bytes], fd: Path) -> Path:
        """The open file's name now. A deleted file keeps the last name it had while no
        other file has taken it, and is ``… (deleted)`` after that."""
        name = os.readlink(fd)
        last = name.removesuffix(" (deleted)")
        try:
            there, mine = os.stat(last), os.fstat(fh.fileno())
        except OSError:  # nothing has that name now
            return Path(last)
        return Path(last if (there.st_dev, there.st_ino) == (mine.st_dev, mine.st_ino) else f"{last} (deleted)")

    def unique(name: Path, fh: IO[bytes], taken: set[str]) -> Path:
        """``name``, or ``name (inode N)`` when another retired file goes by it (two deleted
        files, say): two files never share a checkpoint."""
        return Path(f"{name} (inode {os.fstat(fh.fileno()).st_ino})") if str(name) in taken else name

    def move_checkpoint(from_id: str, identity: Path) -> None:
        with pipeline.log.transaction():
            pipeline.log.move_checkpoint(from_id, source_id(stream, identity), str(identity.resolve()))

    def rename_retired() -> None:
        """Retired files renamed again (logrotate's ``live.jsonl.1`` becoming
        ``live.jsonl.2``) take their checkpoints to their new names, so two files never
        share one. In two steps, through names no file has, so a name one file leaves and
        another takes in the same rotation never loses a checkpoint, in whatever order the
        files are listed."""
        taken: set[str] = set()
        moves = []
        for r in retired:
            fd = _fd_path(r.fh)
            now = unique(name_of(r.fh, fd), r.fh, taken) if fd is not None else r.identity
            taken.add(str(now))
            if now != r.identity:
                moves.append((r, now))
        if not moves:
            return
        with pipeline.log.transaction():
            for i, (r, _now) in enumerate(moves):
                pipeline.log.move_checkpoint(source_id(stream, r.identity), f"{followed} (renaming {i})",
                                             str(r.identity))
            for i, (r, now) in enumerate(moves):
                pipeline.log.move_checkpoint(f"{followed} (renaming {i})", source_id(stream, now),
                                             str(now.resolve()))
        for r, now in moves:
            log.info("rotated_file_renamed", old_file=str(r.identity), now=str(now))
            r.identity = now

    def retire(old: IO[bytes]) -> None:
        """Keep reading ``old`` under its own name and checkpoint, which starts where the
        followed path's checkpoint (just read up to the end of ``old``) left off."""
        fd = _fd_path(old)
        if fd is None:  # no /proc: nothing to read it by once it has another name
            old.close()
            return
        rename_retired()  # first: ``old`` may now have the name an earlier one had
        identity = unique(name_of(old, fd), old, {str(r.identity) for r in retired})
        move_checkpoint(followed, identity)
        size = os.fstat(old.fileno()).st_size
        retired.append(_Retired(old, identity, size, time.monotonic()))
        log.info("file_rotated", old_file=str(identity), grace_seconds=rotation_grace)

    def read_retired(final: bool) -> int:
        rename_retired()  # logrotate may have renamed them since the last poll
        appended = 0
        now = time.monotonic()
        for r in list(retired):
            size = os.fstat(r.fh.fileno()).st_size
            if size != r.size:
                r.size, r.quiet_since = size, now
            done = final or now - r.quiet_since >= rotation_grace
            # a finished file's last line counts even without its newline; when the follower
            # stops, the writer may still be on it: the settle rule, the rest waits under the
            # file's own checkpoint
            appended += ingest(r.identity, _fd_path(r.fh), settle=0 if done and not final else None)
            if done:
                r.fh.close()
                retired.remove(r)
                log.info("rotated_file_closed" if not final else "rotated_file_left", old_file=str(r.identity))
        return appended

    def adopt() -> None:
        """Files rotated away from the path with lines no one read (at start: written after
        an earlier follower stopped; while following: the copy ``copytruncate`` made) are
        read under their new names, as a file rotated while following is (unless one is the
        followed file itself, through a symlink, or already being read)."""
        rename_retired()  # first: the file found may have the name a retired one had
        open_files = [r.fh for r in retired] + ([fh] if fh is not None else [])
        held = {(st.st_dev, st.st_ino) for st in map(os.fstat, (f.fileno() for f in open_files))}
        for found in rotated_away(pipeline.log, stream, path):
            old = _open(found)
            if old is None:
                continue
            st = os.fstat(old.fileno())
            if (st.st_dev, st.st_ino) in held:
                old.close()
                continue
            held.add((st.st_dev, st.st_ino))
            retired.append(_Retired(old, found.resolve(), st.st_size, time.monotonic()))

    try:
        _catch_up(pipeline, False, alerts)  # an earlier follower may have stopped before projecting
        adopt()
        while not should_stop():
            appended = 0
            st = _check_followable(path)
            if fh is not None and (st is None or (st.st_dev, st.st_ino) != ident):
                appended += ingest(path, _fd_path(fh))  # what was written before the switch
                retire(fh)
                fh = None
            if fh is None and st is not None:
                fh = _open(path)
                if fh is not None:
                    opened = os.fstat(fh.fileno())
                    ident = (opened.st_dev, opened.st_ino)
            if retired:
                appended += read_retired(final=False)
            if fh is not None:
                # truncated in place: logrotate's copytruncate left the rest in a copy, which
                # is found and kept open (adopt) before the file is read again from its start
                appended += ingest(path, _fd_path(fh), on_replaced=adopt)
            _catch_up(pipeline, appended > 0, alerts)
            sleep(poll_interval)
        if retired:  # stopped within a rotation's grace period: read what is complete
            _catch_up(pipeline, read_retired(final=True) > 0, alerts)
    finally:
        for r in retired:
            r.fh.close()
        if fh is not None:
            fh.close()


def _follow_catalog(pipeline: PipelineLike, stream: str, path: Path, log, *, poll_interval: float,
                    should_stop: Callable[[], bool], on_cycle: Callable[[SourceSummary], None] | None,
                    sleep: Callable[[float], None], alerts: BackgroundAlerts | None) -> None:
    def look() -> tuple | None:
        st = _check_followable(path)
        return None if st is None else (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    read_as: tuple | None = None  # the file's (device, inode, size, mtime) when last read
    seen = look()  # ... at the previous poll: a file there at the start is read at the first
    _catch_up(pipeline, False, alerts)
    while not should_stop():
        now = look()
        appended = 0
        # read once a change has settled for a poll: a catalog being written (or one that
        # appeared while the follower waited for it) is not read half-written
        if now is not None and now != read_as and now == seen:
            try:
                summary = pipeline._ingester.ingest_file(stream, path, record_empty_run=False)
            except SourceError:
                if path.exists():
                    raise
                now = None  # removed between the look and the read: looked for again
            else:
                read_as, appended = now, summary.appended
                log.info("catalog_read", read=summary.read, appended=summary.appended,
                         duplicates=summary.duplicates)
                if on_cycle is not None:
                    on_cycle(summary)
        seen = now
        _catch_up(pipeline, appended > 0, alerts)
        sleep(poll_interval)


class BackgroundAlerts:
    """Evaluates the alert rules on a thread with a pipeline (and SQLite connection) of its
    own: at most one evaluation at a time, at most one per ``interval`` seconds, and only
    after :meth:`poke` said something was appended. A rule or a sink that is slow, or a
    webhook that does not answer, delays only the next evaluation, never the caller."""

    def __init__(self, pipeline: PipelineLike, interval: float, *, stop_timeout: float = 5.0) -> None:
        self.interval, self.stop_timeout = interval, stop_timeout
        self.evaluations = 0
        self._clone = pipeline.clone
        self._file = pipeline.log.file
        self._log = logger.bind(component="background_alerts")
        self._due = threading.Event()  # something was appended since the last evaluation
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        if not self._file:
            self._log.warning("alerts_not_evaluated", reason="an in-memory database has no second connection")
            return
        # The thread runs in a copy of the caller's context, so its log lines keep what the
        # command bound there (run_id).
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._run,), name="fastcommerce-alerts",
                                        daemon=True)
        self._thread.start()

    def poke(self) -> None:
        """Something was appended: evaluate as soon as the interval allows."""
        self._due.set()
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread; wait at most ``stop_timeout`` seconds for an evaluation under way
        (a sink may be retrying a webhook that does not answer), then leave it behind."""
        self._stopping.set()
        self._wake.set()
        if self._thread is None:
            return
        self._thread.join(self.stop_timeout)
        if self._thread.is_alive():
            self._log.warning("alert_evaluation_abandoned", waited_seconds=self.stop_timeout,
                              reason="still evaluating or delivering at exit")

    def _run(self) -> None:
        pipeline = None
        last = -math.inf
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping.is_set():
                    return
                if not self._due.is_set():
                    continue
                wait = self.interval - (time.monotonic() - last)
                if wait > 0 and self._stopping.wait(wait):
                    return
                self._due.clear()
                last = time.monotonic()
                try:
                    if pipeline is None:  # created here: an SQLite connection stays on its thread
                        pipeline = self._clone(self._file)
                    result = pipeline.alerts()
                except Exception as exc:  # noqa: BLE001 - the follower goes on; the next evaluation may succeed
                    self._log.error("alert_evaluation_failed", error=f"{type(exc).__name__}: {exc}")
                else:
                    self._log.info("alerts_evaluated", seconds=round(time.monotonic() - last, 3),
                                   findings=result.findings, raised=len(result.raised),
                                   resolved=len(result.resolved), delivery_failures=result.delivery_failures)
                self.evaluations += 1
        finally:
            if pipeline is not None:
                pipeline.close()
