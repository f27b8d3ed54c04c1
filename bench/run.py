"""Run every benchmark (or `--only NAME …`) on generated data and write `build/bench/results.json`
and `build/bench/results.md` (a table: each figure beside its floor, measured in the same run,
and the ratio). Needs the test command's set-up (a migrated database in DATABASE_URL, Redis).

    python bench/run.py [--only roster_import …] [--scale 0.1]

`--scale` shrinks every benchmark's size for a quick look (the targets are for scale 1)."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from bench.figures import Figure, figures_table  # noqa: E402

# Module name → what it measures. Each module has `measure(scale: float) -> list[Figure]`.
BENCHMARKS: dict[str, str] = {
    "roster_import": "roster CSV import of 100,000 rows vs COPY",
    "api_load": "GET me/membership and statements under wrk load vs a bare DRF view",
    "statement": "one partner-month statement over 1,000,000 postings vs the raw SQL aggregate",
    "stripe_push": "10,000 invoices through the Stripe outbox at 25/s vs the limit",
    "webhook_intake": "20,000 signed Stripe webhook events vs a bare Django view",
    "bill_run": "bill run of 100,000 due memberships (1 and 2 processes) vs INSERT … SELECT",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), default=None)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    figures: list[Figure] = []
    for name in args.only or list(BENCHMARKS):
        print(f"== {name}: {BENCHMARKS[name]}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        figures += module.measure(scale=args.scale)
    out = ROOT / "build" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
        json.dumps([f.as_dict() for f in figures], indent=2, default=str)
    )
    table = figures_table(figures)
    (out / "results.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
