"""Run every benchmark script in this folder and print their figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    "org_pages.py",
    "critical_path.py",
    "engine_vs_spiffworkflow.py",
    "engine_scaling.py",
    "run_pages.py",
    "focus_page.py",
    "worker_throughput.py",  # PostgreSQL only: needs DATABASE_URL, else says so
    "approval_decisions.py",  # SQLite, and PostgreSQL when DATABASE_URL is set
    "workload_compute.py",  # SQLite, and PostgreSQL when DATABASE_URL is set
    "workload_pdf.py",  # SQLite, and PostgreSQL when DATABASE_URL is set
    "assign_tasks.py",  # SQLite, and PostgreSQL when DATABASE_URL is set
    "rebalance.py",  # SQLite, and PostgreSQL when DATABASE_URL is set
    "role_checks.py",  # SQLite, and PostgreSQL when DATABASE_URL is set
    "obstacle_impact.py",  # SQLite, and PostgreSQL when DATABASE_URL is set
    "warning_scan.py",  # SQLite, and PostgreSQL when DATABASE_URL is set
    "target_rollup.py",  # SQLite, and PostgreSQL when DATABASE_URL is set
    "dashboard.py",  # SQLite, and PostgreSQL when DATABASE_URL is set
    "search.py",  # PostgreSQL for the 1,000,000-document figure: needs DATABASE_URL
]


def main() -> int:
    failed = 0
    for script in SCRIPTS:
        print(f"==== {script} ====", flush=True)
        result = subprocess.run([sys.executable, str(HERE / script)], check=False)
        failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
