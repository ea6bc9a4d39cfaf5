"""`usageql import`: files (or stdin) of records, streamed through the pipeline in batches.

Each batch commits on its own, so an interrupted import is simply run again: what was stored
comes back as duplicates and changes no count.
"""

from __future__ import annotations

import gzip
import io
import itertools
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast

from usageql.ingest.pipeline import Conflict, Ingestor, IngestResult, RawRecord, Rejection
from usageql.ingest.readers import BodyError, read_csv, read_json, read_ndjson

Format = Literal["auto", "ndjson", "json", "csv"]
Progress = Callable[[int, int], None]
STDIN = "-"


@dataclass
class ImportSummary:
    """What an import did, per record and in total. Conflicts (an id repeated with different
    content) are found within a batch (`--batch-size` records of one file): a repeat in a later
    batch finds the id stored, a plain duplicate."""

    records: int = 0
    accepted: int = 0
    duplicates: int = 0
    described: int = 0
    replaced: int = 0
    rejected: list[tuple[str, Rejection]] = field(default_factory=list)
    conflicts: list[tuple[str, Conflict]] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, source: str, records: int, result: IngestResult) -> None:
        """Count one batch from `source`."""
        self.records += records
        self.accepted += result.accepted
        self.duplicates += result.duplicates
        self.described += result.described
        self.replaced += result.replaced
        self.rejected += [(source, r) for r in result.rejected]
        self.conflicts += [(source, c) for c in result.conflicts]


class _CountingReader(io.RawIOBase):
    """Counts the bytes read from a (possibly compressed) file, for progress."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.inner.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


def _format_of(name: str, head: bytes, requested: Format) -> Format:
    if requested != "auto":
        return requested
    suffixes = [s.lower() for s in Path(name).suffixes if s.lower() != ".gz"]
    suffix = suffixes[-1] if suffixes else ""
    if suffix == ".csv":
        return "csv"
    if suffix in {".ndjson", ".jsonl"}:
        return "ndjson"
    return "json" if head.lstrip()[:1] == b"[" else "ndjson"


def _records(stream: io.BufferedReader[Any], name: str, fmt: Format) -> Iterator[RawRecord]:
    chosen = _format_of(name, stream.peek(4096)[:4096], fmt)
    if chosen == "ndjson":
        return read_ndjson(stream)
    if chosen == "json":
        return iter(read_json(stream.read(), "the input" if name == STDIN else "the file"))
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    return read_csv(text)


def _open(name: str) -> tuple[_CountingReader, io.BufferedReader[Any], int]:
    """(byte counter over the file as stored, decompressed stream, size as stored)."""
    if name == STDIN:
        counter = _CountingReader(sys.stdin.buffer)
        size = 0
    else:
        path = Path(name)
        try:
            size = path.stat().st_size
            counter = _CountingReader(path.open("rb"))
        except OSError as error:
            raise BodyError(f"{name}: {error.strerror}") from None
    stream: io.BufferedReader[Any] = io.BufferedReader(counter)
    if stream.peek(2)[:2] == b"\x1f\x8b":  # gzip, whatever the name says
        # GzipFile reads like a BufferedReader (peek, read, readline), which is all we use.
        stream = cast("io.BufferedReader", gzip.GzipFile(fileobj=stream, mode="rb"))
    return counter, stream, size


async def import_files(
    ingestor: Ingestor,
    names: list[str],
    *,
    fmt: Format = "auto",
    batch_size: int = 5000,
    progress: Progress | None = None,
) -> ImportSummary:
    """Ingest every record of every file, `batch_size` records per transaction."""
    started = time.perf_counter()
    summary = ImportSummary()
    opened = [(name, *_open(name)) for name in names]
    total = sum(size for *_, size in opened)
    done_before = 0
    try:
        for name, counter, stream, size in opened:
            label = "stdin" if name == STDIN else name
            try:
                records = _records(stream, name, fmt)
                while batch := list(itertools.islice(records, batch_size)):
                    summary.add(label, len(batch), await ingestor.ingest(batch, producer="import"))
                    if progress is not None:
                        progress(done_before + counter.count, total)
            except (BodyError, UnicodeDecodeError, OSError, EOFError) as error:
                raise BodyError(f"{label}: {error}") from None
            done_before += size
    finally:
        for _, counter, stream, _ in opened:
            stream.close()
            counter.inner.close()
    summary.seconds = time.perf_counter() - started
    return summary
