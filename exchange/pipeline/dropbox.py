"""The FTP drop box on disk: each publisher's home, its vertical folders, and results files.

    EXCHANGE_FTP_ROOT/            (./var/ftp by default)
        PUBLISHER_ID/             a publisher's home: what it sees as `/`
            auto_insurance/       one folder per vertical, made at each login
                today.csv         a file it uploaded (kept EXCHANGE_FTP_KEEP_DAYS days)
                today.results.csv one outcome per row (`row,lead_id,status,errors`)

A file is read into its batch (pipeline/batches.py, data kept in the database) before its
upload is acknowledged; the copy on disk is for the publisher's eyes, and is removed with
its results file once older than the retention (the upkeep beat purges them). Uploads in
flight are `.NAME.part`: hidden, and never read as a batch.

Every server process that may import an FTP batch writes its results file here, so several
servers share one root (a shared volume), as they share the database.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

PART_SUFFIX = ".part"
RESULTS_SUFFIX = ".results.csv"
RESULTS_HEADER = ("row", "lead_id", "status", "errors")


class DropBox:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).absolute()

    def home(self, publisher_id: str) -> Path:
        return self.root / publisher_id

    def prepare(self, publisher_id: str, verticals: Iterable[str]) -> Path:
        """The publisher's home with every vertical's folder (made at each login)."""
        home = self.home(publisher_id)
        for vertical in verticals:
            (home / vertical).mkdir(parents=True, exist_ok=True)
        home.mkdir(parents=True, exist_ok=True)
        return home

    def write_results(self, publisher_id: str, path: str, rows: Sequence[Any]) -> Path:
        """`NAME.results.csv` beside the uploaded `path` (its path in the home), written whole
        under a temporary name and renamed, so a publisher never reads half of it."""
        target = self.home(publisher_id) / results_name(path).lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(RESULTS_HEADER)
        for row in rows:
            writer.writerow((row.row, row.lead_id or "", row.status, _errors_cell(row.errors)))
        temporary = target.with_name(f".{target.name}{PART_SUFFIX}")
        temporary.write_text(text.getvalue(), encoding="utf-8")
        os.replace(temporary, target)
        return target

    def purge(self, older_than_seconds: float, *, now: float | None = None) -> int:
        """Remove files older than the retention, uploads in flight included; the count."""
        if not self.root.is_dir():
            return 0
        cutoff = (time.time() if now is None else now) - older_than_seconds
        removed = 0
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                path = Path(folder) / name
                try:
                    if path.lstat().st_mtime < cutoff:
                        path.unlink()
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed


def results_name(path: str) -> str:
    """`/auto_insurance/today.csv` → `/auto_insurance/today.results.csv`."""
    pure = PurePosixPath(path)
    return str(pure.with_name(pure.stem + RESULTS_SUFFIX))


def part_name(name: str) -> str:
    """The name an upload is written under until it is whole: `.today.csv.part`."""
    return f".{name}{PART_SUFFIX}"


def _errors_cell(errors: Sequence[Any]) -> str:
    return "; ".join(f"{e.field} {e.code}: {e.message}" for e in errors)
