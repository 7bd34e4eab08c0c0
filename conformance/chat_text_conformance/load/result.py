"""What one load run gathered (a local run's, or the master's merged from its workers): the
engine fills it, the report writes it; neither imports the other for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .book import Book
from .figures import Figures
from .options import LoadSettings

__all__ = ["LoadResult", "WorkerInfo"]


@dataclass
class WorkerInfo:
    id: str
    index: int
    connected_at: float
    reports: int = 0
    last_report: float | None = None
    final: bool = False
    lost: str | None = None
    """Why the worker is counted as lost (``None``: it finished the run)."""
    lost_at: float | None = None

    def to_json(self, start: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "index": self.index,
            "connected_at": round(self.connected_at - start, 3),
            "reports": self.reports,
            "last_report_at": None
            if self.last_report is None
            else round(self.last_report - start, 3),
            "final_report": self.final,
            "lost": self.lost is not None,
            "reason": self.lost,
            "lost_at": None if self.lost_at is None else round(self.lost_at - start, 3),
        }


@dataclass
class LoadResult:
    settings: LoadSettings
    book: Book
    figures: Figures
    started: float
    ended: float
    workers: list[WorkerInfo] = field(default_factory=list)
    gave_up: int = 0
    interrupted: bool = False
    setup_error: str | None = None
    locust_requests: int = 0
    locust_failures: int = 0
    cpu_seconds: float | None = None
    """CPU time this process spent over the run (the load generator's own cost; a master's is
    its own, not its workers')."""
    judging: dict[str, Any] | None = None
    """What judging cost (:class:`~.judging.JudgingStats`, a master's summed over its workers);
    ``None``: not judged."""

    @property
    def lost_workers(self) -> list[WorkerInfo]:
        return [worker for worker in self.workers if worker.lost is not None]
