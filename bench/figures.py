"""What every benchmark reports: a figure measured beside a floor measured in the same run on
the same machine, and their ratio (the headline: machines here are shared and noisy, absolute
times drift)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Figure:
    benchmark: str  # e.g. "bill run"
    measure: str  # what was measured, e.g. "100,000 renewals"
    seconds: float  # the figure (wall time; for rates, the time the work took)
    floor: str  # what the floor is, e.g. "INSERT … SELECT generate_series of the same rows"
    floor_seconds: float
    target_ratio: float | None  # at most this many times the floor (None: no target)
    rate: str = ""  # a readable rate, e.g. "2,350 memberships/s"
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.seconds / self.floor_seconds if self.floor_seconds else float("inf")

    @property
    def met(self) -> bool | None:
        return None if self.target_ratio is None else self.ratio <= self.target_ratio

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": round(self.ratio, 2), "met": self.met}


def figures_table(figures: list[Figure]) -> str:
    """A Markdown table of the figures."""
    lines = [
        "| benchmark | measure | seconds | floor | floor seconds | ratio | target | met | rate |",
        "|---|---|---:|---|---:|---:|---:|---|---|",
    ]
    for f in figures:
        target = f"≤ {f.target_ratio:g}x" if f.target_ratio is not None else "—"
        met = {True: "yes", False: "**no**", None: "—"}[f.met]
        lines.append(
            f"| {f.benchmark} | {f.measure} | {f.seconds:.2f} | {f.floor} | "
            f"{f.floor_seconds:.3f} | {f.ratio:.2f}x | {target} | {met} | {f.rate} |"
        )
    return "\n".join(lines)
