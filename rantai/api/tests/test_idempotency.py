"""Idempotency-Key: a retried POST replays the first answer instead of acting twice."""

import threading

import pytest
from django.db import connection, connections

from rantai.api.main import api
from rantai.api.models import IdempotencyRecord
from rantai.api.tests.conftest import Api, api_for, audit_head, problem_of
from rantai.org import services
from rantai.org.models import Party

NEW_UNIT = {"kind": "internal_unit", "name": "Sales", "code": "SAL"}
KEY = {"Idempotency-Key": "3f1c9a2e-0d5b-4c55-9a57-1b2f6f0e8d11"}


def test_a_retry_replays_the_first_response_and_creates_nothing_more(acme, api_as):
    api = api_as("admin")

    first = api.post("/orgs/acme/parties", NEW_UNIT, headers=KEY)
    head = audit_head(acme.organisation)
    second = api.post("/orgs/acme/parties", NEW_UNIT, headers=KEY)

    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert (second["ETag"], second["Location"]) == (first["ETag"], first["Location"])
    assert second["Content-Type"] == first["Content-Type"]
    assert Party.objects.filter(code="SAL").count() == 1
    assert audit_head(acme.organisation) == head


def test_a_retried_action_replays_even_though_its_version_is_now_stale(acme, api_as):
    api = api_as("admin")
    path = f"/orgs/acme/parties/{acme.warehouse.pk}/deactivate"

    first = api.post(path, {"version": 1}, headers=KEY)
    second = api.post(path, {"version": 1}, headers=KEY)
    fresh = api.post(path, {"version": 1}, headers={"Idempotency-Key": "another"})

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json() == first.json()
    assert fresh.status_code == 200  # already inactive: nothing to do, no conflict
    acme.warehouse.refresh_from_db()
    assert acme.warehouse.version == 2


def test_the_same_key_with_another_body_is_422(acme, api_as):
    api = api_as("admin")
    api.post("/orgs/acme/parties", NEW_UNIT, headers=KEY)

    response = api.post("/orgs/acme/parties", {**NEW_UNIT, "code": "SAL2"}, headers=KEY)

    assert response.status_code == 422
    assert list(problem_of(response)["errors"]) == ["Idempotency-Key"]
    assert not Party.objects.filter(code="SAL2").exists()


def test_the_same_key_on_another_path_is_422(acme, api_as):
    api = api_as("admin")
    api.post("/orgs/acme/parties", NEW_UNIT, headers=KEY)

    response = api.post("/orgs/acme/people", {"full_name": "Ani"}, headers=KEY)

    assert response.status_code == 422
    assert list(problem_of(response)["errors"]) == ["Idempotency-Key"]


def test_a_refused_request_leaves_the_key_free_for_a_corrected_retry(acme, api_as):
    api = api_as("admin")

    refused = api.post("/orgs/acme/parties", {**NEW_UNIT, "code": "EXP"}, headers=KEY)
    corrected = api.post("/orgs/acme/parties", NEW_UNIT, headers=KEY)

    assert refused.status_code == 422
    assert corrected.status_code == 201
    assert "Idempotent-Replayed" not in corrected
    assert IdempotencyRecord.objects.get().response_status == 201


def test_keys_belong_to_one_user(acme, api_as):
    api_as("admin").post("/orgs/acme/parties", NEW_UNIT, headers=KEY)
    other_admin = api_for(acme.member)
    acme.member.memberships.update(role="admin")

    response = other_admin.post(
        "/orgs/acme/parties", {**NEW_UNIT, "code": "SAL2"}, headers=KEY
    )

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response


def test_a_malformed_key_is_422(acme, api_as):
    response = api_as("admin").post(
        "/orgs/acme/parties", NEW_UNIT, headers={"Idempotency-Key": "x" * 256}
    )

    assert response.status_code == 422
    assert list(problem_of(response)["errors"]) == ["Idempotency-Key"]
    assert not Party.objects.filter(code="SAL").exists()


def test_every_post_operation_honours_idempotency_keys():
    posts = [
        operation.view_func
        for router in api._get_bound_routers()
        for path_view in router.path_operations.values()
        for operation in path_view.operations
        if "POST" in operation.methods
    ]

    assert (
        len(posts) == 118
    )  # issue 8: targets, deactivate, a run's target, a calendar feed
    assert [f.__name__ for f in posts if not getattr(f, "idempotent", False)] == []


@pytest.mark.postgres_only
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs real row locks and concurrent transactions (PostgreSQL)",
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_act_once(acme, monkeypatch):
    admin_token = api_for(acme.admin).token
    # Use the token once, so neither request below touches its last-used time (a
    # row both would otherwise queue on, hiding the race on the key).
    assert Api(admin_token).get("/me").status_code == 200
    inside = threading.Event()
    real_create_party = services.create_party

    def slow_create_party(*args, **kwargs):
        party = real_create_party(*args, **kwargs)
        inside.set()
        # Hold the first transaction open while the retry arrives.
        threading.Event().wait(0.5)
        return party

    monkeypatch.setattr(services, "create_party", slow_create_party)
    responses = {}

    def call(name):
        try:
            responses[name] = Api(admin_token).post(
                "/orgs/acme/parties", NEW_UNIT, headers=KEY
            )
        finally:
            connections.close_all()

    first = threading.Thread(target=call, args=("first",))
    first.start()
    assert inside.wait(10)
    retry = threading.Thread(target=call, args=("retry",))
    retry.start()
    first.join(20)
    retry.join(20)

    assert responses["first"].status_code == responses["retry"].status_code == 201
    assert responses["retry"]["Idempotent-Replayed"] == "true"
    assert responses["retry"].content == responses["first"].content
    assert Party.objects.filter(code="SAL").count() == 1
