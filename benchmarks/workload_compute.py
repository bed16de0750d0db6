"""`services.compute` of a workload analysis of 5,000 positions x 20 duties, end to
end, on SQLite and PostgreSQL (target: under 1 s).

`compute` reads the sheets, every entry and the current holders, works out each
position's required staff, effectiveness (EJ), grade (PJ) and FTE with the pure
`method.position_result`, stores them on the sheets and the totals on the analysis
(compare-and-set) and writes one audit event, in one transaction: what the analyst's
"Compute" button does. The data (see workload_fixtures.py) is made once and kept;
each figure is the median of `--repeat` calls after a warm-up call, DEBUG off. The
SQL statements of one call are counted separately (`CaptureQueriesContext`).

    [DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres] \\
        .venv/bin/python benchmarks/workload_compute.py [--positions 5000]
        [--duties 20] [--repeat 5] [--fresh] [--drop]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import workload_fixtures as wf  # noqa: E402

TARGET_SECONDS = 1.0


def measure(analysis: Any) -> dict[str, Any]:
    from rantai.accounts.models import User
    from rantai.workload import services
    from rantai.workload.models import Analysis, Entry

    admin = User.objects.get(username=f"{wf.SLUG}-admin")

    def compute() -> None:
        services.compute(Analysis(pk=analysis.pk), actor=admin)

    wf.log("timing services.compute ...")
    median, times = wf.median_seconds(compute, wf_args.repeat)
    queries = wf.count_queries(compute)
    analysis.refresh_from_db()
    return {
        "positions": analysis.sheets.count(),
        "entries": Entry.objects.filter(sheet__analysis=analysis).count(),
        "median": median,
        "times": times,
        "queries": queries,
        "required_total": str(analysis.required_total),
        "required_count": analysis.required_count,
        "current_count": analysis.current_count,
    }


def main() -> int:
    global wf_args
    wf_args = wf.arguments(__doc__.splitlines()[0]).parse_args()
    if wf_args.child:
        return wf.child(wf_args, measure)
    results = wf.run_all(__file__, wf_args)
    print()
    print(
        "services.compute of one analysis, end to end (one transaction: read, "
        f"compute, store, audit): the median of {wf_args.repeat} calls "
        f"(target < {TARGET_SECONDS:.0f} s)"
    )
    for result in results:
        times = ", ".join(f"{t:.2f}" for t in result["times"])
        verdict = "within" if result["median"] < TARGET_SECONDS else "OVER"
        print(f"  {result['database']}")
        print(
            f"    {result['positions']:,} positions, {result['entries']:,} entries: "
            f"{result['median']:.3f} s ({verdict} the target; calls: {times}); "
            f"{result['queries']} SQL statements"
        )
        print(
            f"    result: required {result['required_total']} "
            f"({result['required_count']:,} people), current staff "
            f"{result['current_count']:,}"
        )
    return 0


wf_args: Any = None

if __name__ == "__main__":
    sys.exit(main())
