from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

from rantai.accounts.models import Membership
from rantai.core.errors import Conflict, NotFound, ValidationFailed
from rantai.core.models import OutboxMessage
from rantai.notifications import mail, queries, services
from rantai.notifications.models import Delivery, Notification, Preference
from rantai.org import membership
from rantai.testing import make_user

AT = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


def _notify(acme, recipients, *, key="approval:1:stage:1:opened", **kwargs):
    defaults = {
        "event_type": "approval.requested",
        "title": "Approve the deviation",
        "url": "/o/acme/approvals/1/",
        "now": AT,
    }
    return services.notify(
        acme.organisation, recipients=recipients, key=key, **{**defaults, **kwargs}
    )


# --- notify -----------------------------------------------------------------------


def test_notify_writes_one_notification_per_active_member_once_per_key(acme):
    outsider = make_user("outsider")

    written = _notify(acme, [acme.member, acme.auditor, outsider, acme.member])
    again = _notify(acme, [acme.member, acme.auditor, acme.admin])

    assert written == 2
    assert again == 1  # only the admin is new for this key
    rows = Notification.objects.filter(organisation=acme.organisation)
    assert sorted(
        str(u) for u in rows.values_list("recipient__username", flat=True)
    ) == [
        "admin",
        "auditor",
        "member",
    ]
    assert {n.key for n in rows} == {"approval:1:stage:1:opened"}
    assert all(n.created_at == AT and n.read_at is None for n in rows)


def test_a_redelivered_urgent_notice_sends_its_email_only_once(acme):
    first = _notify(acme, [acme.member], event_type="approval.escalated")
    second = _notify(acme, [acme.member], event_type="approval.escalated")

    assert (first, second) == (1, 0)
    notification = Notification.objects.get(recipient=acme.member)
    message = OutboxMessage.objects.get()
    assert message.key == f"notification:{notification.pk}"
    assert message.recipient == "member@example.test"


def test_members_who_left_and_deactivated_accounts_are_not_notified(acme):
    ended = Membership.objects.get(organisation=acme.organisation, user=acme.auditor)
    membership.end_membership(ended, actor=acme.admin, expected_version=ended.version)
    acme.partner.is_active = False
    acme.partner.save(update_fields=["is_active"])

    assert _notify(acme, [acme.auditor, acme.partner]) == 0
    assert _notify(acme, []) == 0
    assert not Notification.objects.exists()


def test_routine_events_wait_for_the_digest_and_urgent_ones_are_emailed_at_once(
    acme,
):
    _notify(acme, [acme.member], key="routine", event_type="task.ready")
    _notify(acme, [acme.member], key="urgent", event_type="run.late")
    _notify(acme, [acme.member], key="forced", event_type="task.ready", urgent=True)
    _notify(acme, [acme.member], key="calm", event_type="run.late", urgent=False)

    rows = {n.key: n for n in Notification.objects.all()}
    assert rows["routine"].delivery == Delivery.DIGEST
    assert rows["routine"].emailed_at is None
    assert not rows["routine"].urgent
    assert rows["urgent"].delivery == Delivery.IMMEDIATE
    assert rows["urgent"].emailed_at == AT
    assert rows["urgent"].urgent
    assert rows["forced"].delivery == Delivery.IMMEDIATE
    assert rows["calm"].delivery == Delivery.DIGEST
    assert sorted(
        str(k) for k in OutboxMessage.objects.values_list("key", flat=True)
    ) == sorted(
        [f"notification:{rows['urgent'].pk}", f"notification:{rows['forced'].pk}"]
    )


def test_the_recipients_preference_chooses_the_delivery(acme):
    services.update_preference(
        acme.organisation,
        actor=acme.member,
        urgent=Delivery.DIGEST,
        routine=Delivery.IMMEDIATE,
        per_event={"task.ready": Delivery.IN_APP},
    )

    _notify(acme, [acme.member], key="a", event_type="run.late")
    _notify(acme, [acme.member], key="b", event_type="run.completed")
    _notify(acme, [acme.member], key="c", event_type="task.ready")

    rows = {n.key: n.delivery for n in Notification.objects.all()}
    assert rows == {
        "a": Delivery.DIGEST,
        "b": Delivery.IMMEDIATE,
        "c": Delivery.IN_APP,
    }
    assert OutboxMessage.objects.count() == 1


def test_the_email_links_absolutely_and_is_written_in_the_recipients_language(
    acme, members, monkeypatch, settings
):
    settings.RANTAI_BASE_URL = "https://rantai.example.com/"
    (indonesian,) = members(1, language="id")
    rendered_in = []
    real_render = mail.render_to_string

    def spy(template, context):
        rendered_in.append((context["user"].username, translation.get_language()))
        return real_render(template, context)

    monkeypatch.setattr(mail, "render_to_string", spy)

    _notify(
        acme,
        [acme.member, indonesian],
        event_type="run.late",
        title=gettext_lazy("Not found."),
        body=format_lazy("{}: {}", gettext_lazy("Not found."), "EXP-118"),
    )

    assert sorted(rendered_in) == [("m1", "id"), ("member", "en")]
    english = OutboxMessage.objects.get(recipient="member@example.test")
    bahasa = OutboxMessage.objects.get(recipient=indonesian.email)
    assert english.subject == "[Acme Ltd] Not found."
    assert bahasa.subject == "[Acme Ltd] Tidak ditemukan."
    assert "Tidak ditemukan.: EXP-118" in bahasa.body
    assert "https://rantai.example.com/o/acme/approvals/1/" in bahasa.body
    assert "Hello Member," in english.body
    titles = dict(Notification.objects.values_list("recipient__username", "title"))
    assert titles == {"member": "Not found.", "m1": "Tidak ditemukan."}


def test_notify_costs_the_same_few_queries_for_three_or_thirty_recipients(
    acme, members
):
    people = members(30)
    counts = []
    for index, recipients in enumerate((people[:3], people)):
        with CaptureQueriesContext(connection) as queries_run:
            written = _notify(
                acme, recipients, key=f"escalated:{index}", event_type="run.late"
            )
        assert written == len(recipients)
        counts.append(len(queries_run))

    assert counts[0] == counts[1]
    assert counts[0] <= 6
    assert OutboxMessage.objects.count() == 33


def test_notify_checks_its_arguments(acme):
    with pytest.raises(ValueError, match="unknown event type"):
        _notify(acme, [acme.member], event_type="approval.guessed")
    with pytest.raises(ValueError, match="key"):
        _notify(acme, [acme.member], key="")
    with pytest.raises(ValueError, match="link"):
        _notify(acme, [acme.member], url="/" + "x" * 500)


def test_long_titles_are_clipped_to_fit(acme):
    _notify(acme, [acme.member], title="word " * 100)

    title = Notification.objects.get().title
    assert len(title) == 300
    assert title.endswith("…")


# --- reading ----------------------------------------------------------------------


def test_reading_marks_and_counts(acme, other_org):
    for index in range(3):
        _notify(acme, [acme.member, acme.admin], key=f"k{index}")
    mine = list(queries.notifications_for(acme.organisation, acme.member))

    assert [n.key for n in mine] == ["k2", "k1", "k0"]  # newest first
    assert queries.unread_count(acme.organisation, acme.member) == 3

    services.mark_read(mine[0], actor=acme.member, now=AT)
    services.mark_read(mine[0], actor=acme.member)  # again: nothing changes
    assert Notification.objects.get(pk=mine[0].pk).read_at == AT
    assert mine[0].read_at == AT
    assert queries.unread_count(acme.organisation, acme.member) == 2
    assert [
        n.key
        for n in queries.notifications_for(
            acme.organisation, acme.member, unread_only=True
        )
    ] == ["k1", "k0"]

    assert services.mark_all_read(acme.organisation, actor=acme.member) == 2
    assert queries.unread_count(acme.organisation, acme.member) == 0
    assert queries.unread_count(acme.organisation, acme.admin) == 3
    assert queries.unread_count(other_org.organisation, acme.member) == 0


def test_nobody_marks_or_reads_someone_elses_notification(acme):
    _notify(acme, [acme.member])
    notification = Notification.objects.get()

    with pytest.raises(NotFound):
        services.mark_read(notification, actor=acme.admin)
    with pytest.raises(NotFound):
        queries.notification(acme.organisation, acme.admin, notification.pk)
    assert queries.notification(acme.organisation, acme.member, notification.pk)
    with pytest.raises(NotFound):
        services.mark_all_read(acme.organisation, actor=make_user("stranger"))
    assert Notification.objects.get().read_at is None


# --- preferences ------------------------------------------------------------------


def test_without_a_saved_preference_the_defaults_apply(acme):
    preference = services.get_preference(acme.organisation, acme.member)

    assert preference.pk is None
    assert (preference.urgent, preference.routine, preference.digest_hour) == (
        Delivery.IMMEDIATE,
        Delivery.DIGEST,
        7,
    )
    assert preference.per_event == {}
    assert preference.version == 1


def test_updating_a_preference_creates_then_compares_and_sets(acme):
    created = services.update_preference(
        acme.organisation, actor=acme.member, digest_hour=18, expected_version=1
    )
    assert (created.digest_hour, created.version) == (18, 2)
    # A page read before the first save (the defaults, version 1) is stale now.
    with pytest.raises(Conflict):
        services.update_preference(
            acme.organisation, actor=acme.member, digest_hour=5, expected_version=1
        )

    updated = services.update_preference(
        acme.organisation,
        actor=acme.member,
        routine=Delivery.IN_APP,
        per_event={"run.completed": Delivery.IMMEDIATE, "task.ready": "digest"},
        expected_version=2,
    )

    stored = Preference.objects.get(organisation=acme.organisation, user=acme.member)
    assert stored.version == updated.version == 3
    assert (stored.routine, stored.digest_hour) == (Delivery.IN_APP, 18)
    assert stored.per_event == {"task.ready": "digest", "run.completed": "immediate"}
    with pytest.raises(Conflict):
        services.update_preference(
            acme.organisation, actor=acme.member, digest_hour=6, expected_version=2
        )
    assert Preference.objects.get(pk=stored.pk).digest_hour == 18


def test_a_first_save_against_a_stale_version_conflicts(acme):
    with pytest.raises(Conflict):
        services.update_preference(
            acme.organisation, actor=acme.member, digest_hour=6, expected_version=2
        )
    assert not Preference.objects.exists()


def test_preferences_are_validated_field_by_field(acme):
    with pytest.raises(ValidationFailed) as refused:
        services.update_preference(
            acme.organisation,
            actor=acme.member,
            urgent="carrier pigeon",
            per_event={"approval.guessed": "digest", "run.late": "never"},
            digest_hour=24,
        )

    errors = refused.value.errors
    assert set(errors) == {"urgent", "per_event", "digest_hour"}
    assert any("approval.guessed" in message for message in errors["per_event"])
    assert any("run.late" in message for message in errors["per_event"])
    assert errors["digest_hour"] == ["The digest hour is between 0 and 23."]
    for hour in (-1, True, "7", 7.5):
        with pytest.raises(ValidationFailed):
            services.update_preference(
                acme.organisation, actor=acme.member, digest_hour=hour
            )
    with pytest.raises(ValidationFailed):
        services.update_preference(
            acme.organisation, actor=acme.member, per_event=["run.late"]
        )
    assert not Preference.objects.exists()


def test_only_members_keep_preferences_and_each_only_their_own(acme, other_org):
    with pytest.raises(NotFound):
        services.update_preference(
            other_org.organisation, actor=acme.member, digest_hour=6
        )
    services.update_preference(acme.organisation, actor=acme.admin, digest_hour=9)

    assert services.get_preference(acme.organisation, acme.member).pk is None
    assert services.get_preference(acme.organisation, acme.admin).digest_hour == 9


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: real threads share the test database only there",
)
@pytest.mark.django_db(transaction=True)
def test_two_workers_notifying_at_once_write_and_email_each_person_once(acme, members):
    people = members(5)
    barrier = threading.Barrier(2)
    results: list[object] = [None, None]

    def work(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = _notify(acme, people, event_type="run.late")
        except BaseException as error:  # inspected below
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert all(isinstance(result, int) for result in results), results
    assert sum(results) == 5  # type: ignore[arg-type]
    assert Notification.objects.count() == 5
    assert OutboxMessage.objects.filter(key__startswith="notification:").count() == 5
