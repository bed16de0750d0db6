"""Server time and SQL queries of the organisation pages on a large organisation.

Generates (once, cached in var/bench/) an organisation of 200 units, 1,000 positions
(3 duties each) and 5,000 people holding them, built through the services. Then
requests the org chart, a position page and the API list of positions repeatedly
through Django's test client, in-process (so the figure is server time: URL routing,
middleware, view, queries, template rendering, no network), and prints median and
p95 per page and the number of SQL queries.

    .venv/bin/python benchmarks/org_pages.py [--repeat 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
DATA_DIR = ROOT / "var" / "bench" / "org"
os.environ["RANTAI_DATA_DIR"] = str(DATA_DIR)
os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rantai.settings")
os.environ["AXES_ENABLED"] = "0"
os.environ["RANTAI_TESTING"] = "1"

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402

from rantai.accounts import tokens  # noqa: E402
from rantai.accounts.models import Organisation, User  # noqa: E402
from rantai.org.models import Position  # noqa: E402

SLUG = "bench-large"
UNITS, POSITIONS, PEOPLE = 200, 1000, 5000


def ensure_data() -> Organisation:
    call_command("migrate", interactive=False, verbosity=0)
    existing = Organisation.objects.filter(slug=SLUG).first()
    if existing is not None:
        return existing
    from generate import generate

    print(
        f"Generating {UNITS} units, {POSITIONS} positions, {PEOPLE} people (once) ...",
        file=sys.stderr,
    )
    return generate(SLUG, units=UNITS, positions=POSITIONS, people=PEOPLE)


def measure(
    client: Client, url: str, repeat: int, **headers: str
) -> tuple[list[float], int]:
    client.get(url, **headers)  # warm caches (templates, URL resolver)
    times = []
    queries = 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url, **headers)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries = len(captured.captured_queries)
    return times, queries


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    organisation = ensure_data()
    member = User.objects.get(username=f"{SLUG}-member")
    client = Client()
    client.force_login(member)
    position = (
        Position.objects.filter(organisation=organisation).order_by("-pk").first()
    )
    assert position is not None
    _token, raw = tokens.create_token(member, name="benchmark")
    pages = [
        ("org chart", reverse("org-chart", kwargs={"org": SLUG}), {}),
        (
            "position page",
            reverse("position-detail", kwargs={"org": SLUG, "pk": position.pk}),
            {},
        ),
        (
            "API positions (limit 100)",
            f"/api/v1/orgs/{SLUG}/positions?limit=100",
            {"HTTP_AUTHORIZATION": f"Bearer {raw}"},
        ),
    ]
    print(
        f"Organisation: {UNITS} units, {POSITIONS} positions, {PEOPLE} people; "
        f"{args.repeat} requests per page, in-process server time"
    )
    for name, url, headers in pages:
        times, queries = measure(client, url, args.repeat, **headers)
        print(
            f"{name:<28} median {statistics.median(times):7.1f} ms   "
            f"p95 {p95(times):7.1f} ms   {queries} SQL queries"
        )


if __name__ == "__main__":
    main()
