"""The PDF unit summary of a workload analysis of 5,000 positions, on SQLite and
PostgreSQL (target: under 10 s).

Times, each the median of `--repeat` runs after a warm-up, DEBUG off:

- `reports.build`: the report as plain data (sheets, 100,000 entries with their
  per-duty figures, the signature) and its SQL statements;
- `reports.pdf(report, duties=False)`: the title block, the unit summary (one row per
  position: current and required staff, shortage or surplus, EJ, PJ, FTE and its
  category) and the signature block — the figure with the target;
- once, for scale, the whole report with every position's table of duties
  (`reports.pdf(report)`), and its pages.

The data (see workload_fixtures.py) is made once and kept; the results are
computed (`services.compute`) before timing.

    [DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres] \\
        .venv/bin/python benchmarks/workload_pdf.py [--positions 5000]
        [--duties 20] [--repeat 3] [--fresh] [--drop] [--no-full]
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import workload_fixtures as wf  # noqa: E402

TARGET_SECONDS = 10.0


def pages(data: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b", data))


def measure(analysis: Any) -> dict[str, Any]:
    from rantai.accounts.models import User
    from rantai.workload import reports, services

    admin = User.objects.get(username=f"{wf.SLUG}-admin")
    services.compute(analysis, actor=admin)
    wf.log("timing reports.build ...")
    build_median, build_times = wf.median_seconds(
        lambda: reports.build(analysis), wf_args.repeat
    )
    queries = wf.count_queries(lambda: reports.build(analysis))
    report = reports.build(analysis)
    wf.log("timing reports.pdf of the unit summary ...")
    summary: dict[str, bytes] = {}

    def render() -> None:
        summary["pdf"] = reports.pdf(report, language="id", duties=False)

    pdf_median, pdf_times = wf.median_seconds(render, wf_args.repeat)
    figures: dict[str, Any] = {
        "positions": len(report.positions),
        "entries": sum(len(p.entries) for p in report.positions),
        "build": build_median,
        "build_times": build_times,
        "queries": queries,
        "summary": pdf_median,
        "summary_times": pdf_times,
        "summary_pages": pages(summary["pdf"]),
        "summary_bytes": len(summary["pdf"]),
    }
    if not wf_args.no_full:
        wf.log("rendering the whole report once ...")
        started = time.perf_counter()
        whole = reports.pdf(report, language="id")
        figures["full"] = time.perf_counter() - started
        figures["full_pages"] = pages(whole)
        figures["full_bytes"] = len(whole)
    return figures


def main() -> int:
    global wf_args
    parser = wf.arguments(__doc__.splitlines()[0])
    parser.set_defaults(repeat=3)
    parser.add_argument(
        "--no-full", action="store_true", help="skip the whole report with duties"
    )
    wf_args = parser.parse_args()
    if wf_args.child:
        return wf.child(wf_args, measure)
    results = wf.run_all(__file__, wf_args)
    print()
    print(
        f"The workload report's PDF (A4 landscape, Indonesian): the median of "
        f"{wf_args.repeat} runs (target for the unit summary < {TARGET_SECONDS:.0f} s)"
    )
    for r in results:
        verdict = "within" if r["summary"] < TARGET_SECONDS else "OVER"
        print(f"  {r['database']}")
        print(
            f"    reports.build, {r['positions']:,} positions, {r['entries']:,} "
            f"entries: {r['build']:.2f} s, {r['queries']} SQL statements"
        )
        print(
            f"    unit summary PDF: {r['summary']:.2f} s ({verdict} the target; "
            f"runs: {', '.join(f'{t:.2f}' for t in r['summary_times'])}), "
            f"{r['summary_pages']:,} pages, {r['summary_bytes'] / 1e6:.1f} MB"
        )
        if "full" in r:
            print(
                f"    whole report with every position's duties (once): "
                f"{r['full']:.1f} s, {r['full_pages']:,} pages, "
                f"{r['full_bytes'] / 1e6:.1f} MB"
            )
    return 0


wf_args: Any = None

if __name__ == "__main__":
    sys.exit(main())
