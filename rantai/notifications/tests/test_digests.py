from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from rantai.accounts.models import Membership
from rantai.core.models import OutboxMessage
from rantai.notifications import digests, mail, services
from rantai.notifications.models import Digest, Notification
from rantai.org import membership
from rantai.org import services as org

on_postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: real threads share the test database only there",
)

# acme is in Asia/Jakarta (UTC+7): 00:00 UTC is 07:00 there.
MORNING = dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC)


def _routine(acme, recipients, key, *, at, title="Task ready", event_type="task.ready"):
    return services.notify(
        acme.organisation,
        recipients=recipients,
        event_type=event_type,
        key=key,
        title=title,
        body="Price the shipping of EXP-118",
        url=f"/o/acme/{key}/",
        now=at,
    )


def test_the_digest_goes_out_once_at_the_digest_hour_in_the_organisations_time_zone(
    acme,
):
    _routine(acme, [acme.member], "a", at=MORNING - dt.timedelta(hours=10))
    _routine(acme, [acme.member], "b", at=MORNING - dt.timedelta(hours=2))

    assert digests.send_due(now=MORNING - dt.timedelta(minutes=1)) == 0  # 06:59
    assert digests.send_due(now=MORNING) == 1  # 07:00 in Jakarta
    assert digests.send_due(now=MORNING + dt.timedelta(minutes=5)) == 0

    digest = Digest.objects.get()
    assert (digest.user, digest.day, digest.items) == (
        acme.member,
        dt.date(2026, 3, 2),
        2,
    )
    assert set(Notification.objects.values_list("digest", flat=True)) == {digest.pk}
    message = OutboxMessage.objects.get()
    assert message.key == f"digest:{digest.pk}"
    assert message.recipient == "member@example.test"
    assert message.subject == "[Acme Ltd] Your daily digest: 2 notifications"
    assert message.body.index("/o/acme/a/") < message.body.index("/o/acme/b/")
    assert "Price the shipping of EXP-118" in message.body
    assert "after 07:00 (Asia/Jakarta)" in message.body


def test_the_local_date_names_the_day_and_a_later_notice_waits_for_tomorrow(acme):
    _routine(acme, [acme.member], "a", at=MORNING)
    late_evening = MORNING + dt.timedelta(hours=16)  # 23:00 in Jakarta, 16:00 UTC
    assert digests.send_due(now=late_evening) == 1

    _routine(acme, [acme.member], "b", at=late_evening + dt.timedelta(minutes=30))
    past_midnight = MORNING + dt.timedelta(hours=17, minutes=30)  # 00:30 next day
    assert digests.send_due(now=past_midnight) == 0
    next_morning = MORNING + dt.timedelta(days=1)
    assert digests.send_due(now=next_morning) == 1

    assert list(Digest.objects.order_by("day").values_list("day", flat=True)) == [
        dt.date(2026, 3, 2),
        dt.date(2026, 3, 3),
    ]


def test_each_person_chooses_the_hour(acme):
    services.update_preference(acme.organisation, actor=acme.member, digest_hour=18)
    _routine(acme, [acme.member, acme.admin], "a", at=MORNING - dt.timedelta(hours=1))

    assert digests.send_due(now=MORNING) == 1  # the admin, at 07:00
    assert digests.send_due(now=MORNING + dt.timedelta(hours=10, minutes=59)) == 0
    assert digests.send_due(now=MORNING + dt.timedelta(hours=11)) == 1  # 18:00

    assert sorted(Digest.objects.values_list("user__username", flat=True)) == [
        "admin",
        "member",
    ]


def test_another_time_zone_moves_the_hour(acme):
    org.update_organisation(
        acme.organisation,
        actor=acme.admin,
        expected_version=acme.organisation.version,
        time_zone="Europe/Amsterdam",
    )
    _routine(acme, [acme.member], "a", at=MORNING)

    assert digests.send_due(now=MORNING + dt.timedelta(hours=5, minutes=59)) == 0
    assert digests.send_due(now=MORNING + dt.timedelta(hours=6)) == 1  # 07:00 CET


def test_urgent_and_in_app_notices_are_not_in_the_digest(acme):
    services.update_preference(
        acme.organisation, actor=acme.member, per_event={"run.completed": "in_app"}
    )
    _routine(acme, [acme.member], "late", at=MORNING, event_type="run.late")
    _routine(acme, [acme.member], "done", at=MORNING, event_type="run.completed")

    assert digests.send_due(now=MORNING + dt.timedelta(hours=1)) == 0
    assert not Digest.objects.exists()


def test_what_was_read_in_the_app_is_not_emailed_again(acme):
    _routine(acme, [acme.member], "a", at=MORNING - dt.timedelta(hours=3))
    _routine(acme, [acme.member], "b", at=MORNING - dt.timedelta(hours=2))
    services.mark_read(Notification.objects.get(key="a"), actor=acme.member)

    assert digests.send_due(now=MORNING) == 1

    digest = Digest.objects.get()
    assert digest.items == 1
    body = OutboxMessage.objects.get().body
    assert "/o/acme/b/" in body
    assert "/o/acme/a/" not in body
    # the read one is settled with the digest, so it is not looked at again
    assert Notification.objects.get(key="a").digest == digest


def test_nothing_unread_means_no_digest_that_day(acme):
    _routine(acme, [acme.member], "a", at=MORNING - dt.timedelta(hours=3))
    services.mark_all_read(acme.organisation, actor=acme.member)

    assert digests.send_due(now=MORNING) == 0
    _routine(acme, [acme.member], "b", at=MORNING + dt.timedelta(hours=3))
    assert digests.send_due(now=MORNING + dt.timedelta(hours=3)) == 1


def test_someone_who_left_gets_no_digest(acme):
    _routine(acme, [acme.auditor], "a", at=MORNING - dt.timedelta(hours=1))
    ended = Membership.objects.get(organisation=acme.organisation, user=acme.auditor)
    membership.end_membership(ended, actor=acme.admin, expected_version=ended.version)

    assert digests.send_due(now=MORNING) == 0
    assert not OutboxMessage.objects.exists()


def test_the_digest_is_written_in_the_persons_language(acme, members, monkeypatch):
    (indonesian,) = members(1, language="id")
    _routine(acme, [acme.member, indonesian], "a", at=MORNING - dt.timedelta(hours=1))
    rendered_in = {}
    real_render = mail.render_to_string

    def spy(template, context):
        rendered_in[context["user"].username] = translation.get_language()
        return real_render(template, context)

    monkeypatch.setattr(mail, "render_to_string", spy)

    assert digests.send_due(now=MORNING) == 2

    assert rendered_in == {"member": "en", "m1": "id"}


def test_a_long_digest_lists_the_first_items_and_counts_the_rest(acme, monkeypatch):
    monkeypatch.setattr(mail, "DIGEST_ITEMS", 2)
    for index in range(5):
        _routine(
            acme,
            [acme.member],
            f"k{index}",
            at=MORNING - dt.timedelta(hours=5 - index),
            title=f"Item {index}",
        )

    assert digests.send_due(now=MORNING) == 1

    body = OutboxMessage.objects.get().body
    assert "Item 0" in body and "Item 1" in body and "Item 2" not in body
    assert "and 3 more in Rantai" in body
    assert Digest.objects.get().items == 5


def test_the_limit_caps_one_run(acme, members):
    people = members(3)
    _routine(acme, people, "a", at=MORNING - dt.timedelta(hours=1))

    assert digests.send_due(now=MORNING, limit=2) == 2
    assert digests.send_due(now=MORNING, limit=2) == 1
    assert digests.send_due(now=MORNING, limit=2) == 0


def test_queries_grow_only_by_the_writes_of_each_digest(acme, members):
    people = members(7)
    counts = []
    for round_, group in enumerate((people[:1], people[1:3], people[3:7])):
        at = MORNING + dt.timedelta(days=round_)
        _routine(acme, group, f"k{round_}", at=at - dt.timedelta(hours=1))
        with CaptureQueriesContext(connection) as run:
            assert digests.send_due(now=at) == len(group)
        counts.append(len(run))

    one, two, four = counts
    per_digest = two - one
    assert four == one + 3 * per_digest
    assert per_digest <= 12


def test_a_second_run_that_raced_past_the_check_writes_nothing(acme, monkeypatch):
    """Both runs saw the digest as due; the unique day makes the later one a no-op."""
    _routine(acme, [acme.member], "a", at=MORNING - dt.timedelta(hours=1))
    stale = digests.due(now=MORNING)
    assert digests.send_due(now=MORNING) == 1

    monkeypatch.setattr(digests, "due", lambda **kwargs: stale)
    assert digests.send_due(now=MORNING) == 0

    assert Digest.objects.count() == 1
    assert OutboxMessage.objects.count() == 1


@on_postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_each_digest_exactly_once(acme, members):
    people = members(5)
    _routine(acme, [acme.member, *people], "a", at=MORNING - dt.timedelta(hours=1))
    barrier = threading.Barrier(2)
    results: list[object] = [None, None]

    def work(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = digests.send_due(now=MORNING)
        except BaseException as error:  # inspected below
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not any(thread.is_alive() for thread in threads)
    assert all(isinstance(result, int) for result in results), results
    assert sum(results) == 6  # type: ignore[arg-type]
    assert Digest.objects.count() == 6
    assert OutboxMessage.objects.filter(key__startswith="digest:").count() == 6
    assert Notification.objects.filter(digest__isnull=True).count() == 0
