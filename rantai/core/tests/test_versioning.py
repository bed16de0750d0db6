"""The moves shared by versioned definitions (rantai.core.versioning), on
approval routes: what a publication and a retirement write and answer, and the
copies a new draft starts from. The services' own tests (chains' versions,
approvals' routes) cover who may make them."""

from __future__ import annotations

import datetime as dt

import pytest

from rantai.approvals import routes
from rantai.approvals.models import RouteStage, RouteVersion, SubjectKind
from rantai.chains.models import VersionStatus
from rantai.core import versioning
from rantai.core.errors import Conflict, ValidationFailed

NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def draft(acme) -> RouteVersion:  # type: ignore[no-untyped-def]
    route = routes.create_route(
        acme.organisation,
        actor=acme.admin,
        code="EXP",
        name="Export",
        subject_kind=SubjectKind.DEVIATION,
    )
    version = route.versions.get()
    routes.add_stage(version, actor=acme.admin, name="Head", rule="superior")
    version.refresh_from_db()
    return version


def test_publishing_retires_the_previous_version_first(acme, draft):  # type: ignore[no-untyped-def]
    first = versioning.publish(
        draft,
        number=draft.number,
        previous=None,
        expected_version=draft.version,
        actor_id=acme.admin.pk,
        now=NOW,
        statuses=VersionStatus,
    )
    assert [change.entry() for change in first] == [
        {
            "verb": "published",
            "target": draft,
            "changes": {"status": ["draft", "published"]},
        }
    ]
    second = routes.new_draft(draft.route, actor=acme.admin)

    changes = versioning.publish(
        second,
        number=2,
        previous=draft,
        expected_version=1,
        actor_id=acme.admin.pk,
        now=NOW,
        statuses=VersionStatus,
    )

    assert [(c.entry()["verb"], c.entry()["changes"]) for c in changes] == [
        ("retired", {"status": ["published", "retired"], "replaced_by": 2}),
        ("published", {"status": ["draft", "published"]}),
    ]
    assert list(
        RouteVersion.objects.order_by("number").values_list(
            "status", "retired_at", "published_at", "published_by_id", "version"
        )
    ) == [
        (VersionStatus.RETIRED, NOW, NOW, acme.admin.pk, 3),
        (VersionStatus.PUBLISHED, None, NOW, acme.admin.pk, 2),
    ]


def test_only_a_published_version_retires_and_a_stale_one_conflicts(draft):  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationFailed) as refused:
        versioning.retire(draft, expected_version=None, now=NOW, statuses=VersionStatus)
    assert refused.value.message == "Only a published version can be retired."

    draft.status = VersionStatus.PUBLISHED
    with pytest.raises(Conflict):
        versioning.retire(draft, expected_version=7, now=NOW, statuses=VersionStatus)
    assert RouteVersion.objects.get(pk=draft.pk).status == VersionStatus.DRAFT


def test_copies_keep_the_named_fields_and_take_the_new_values(
    acme,
    draft,
    django_assert_num_queries,  # type: ignore[no-untyped-def]
):
    routes.add_stage(
        draft,
        actor=acme.admin,
        name="Director",
        rule="position",
        position=acme.director,
    )
    stages = list(RouteStage.objects.filter(route_version=draft).order_by("order"))
    target = RouteVersion(organisation=acme.organisation, route=draft.route, number=2)

    with django_assert_num_queries(0):  # foreign keys are copied as their ids
        copied = versioning.copies(
            stages,
            ("organisation", "order", "name", "rule", "position"),
            route_version=target,
        )

    assert [c.pk for c in copied] == [None, None]
    assert [
        (c.organisation_id, c.order, c.name, c.rule, c.position_id) for c in copied
    ] == [
        (acme.organisation.pk, 1, "Head", "superior", None),
        (acme.organisation.pk, 2, "Director", "position", acme.director.pk),
    ]
    assert all(c.route_version is target for c in copied)
    assert [c.version for c in copied] == [1, 1]  # a field not named: its default
