"""Errors are RFC 7807 problem details, whatever went wrong."""

from rantai.api.tests.conftest import BASE, audit_head, problem_of
from rantai.org import services


def test_an_unexpected_error_is_a_500_problem_and_changes_nothing(
    acme, api_as, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "update_party", broken)

    response = api_as("admin").patch(
        f"/orgs/acme/parties/{acme.export.pk}", {"name": "X", "version": 1}
    )

    assert response.status_code == 500
    body = problem_of(response)
    assert body["code"] == "server_error"
    assert "boom" not in response.content.decode()
    assert body["request_id"] == response["X-Request-ID"]


def test_an_unknown_url_is_a_404_problem(acme, api_as):
    response = api_as("admin").get("/orgs/acme/no-such-thing")

    assert response.status_code == 404
    assert problem_of(response)["instance"] == f"{BASE}/orgs/acme/no-such-thing"


def test_an_unknown_object_is_a_404_problem(acme, api_as):
    response = api_as("admin").get("/orgs/acme/positions/999999")

    assert response.status_code == 404
    assert problem_of(response)["code"] == "not_found"


def test_malformed_json_is_a_400_problem(acme, api_as):
    api = api_as("admin")

    response = api.client.post(
        f"{BASE}/orgs/acme/parties",
        "{not json",
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.token}"},
    )

    assert response.status_code == 400
    assert problem_of(response)["code"] == "bad_request"


def test_a_missing_body_is_a_422_problem_on_the_body(acme, api_as):
    api = api_as("admin")

    response = api.client.generic(
        "POST",
        f"{BASE}/orgs/acme/parties",
        b"",
        headers={"Authorization": f"Bearer {api.token}"},
    )

    assert response.status_code == 422
    assert problem_of(response)["errors"] == {"body": ["Field required"]}


def test_bad_query_parameters_are_422_on_the_parameter(acme, api_as):
    response = api_as("member").get("/orgs/acme/parties", limit=0)

    assert response.status_code == 422
    assert list(problem_of(response)["errors"]) == ["limit"]


def test_a_malformed_if_match_is_422(acme, api_as):
    response = api_as("admin").patch(
        f"/orgs/acme/parties/{acme.export.pk}",
        {"name": "X"},
        headers={"If-Match": "yesterday"},
    )

    assert response.status_code == 422
    assert list(problem_of(response)["errors"]) == ["If-Match"]


def test_a_write_failing_after_the_service_ran_is_rolled_back(
    acme, api_as, monkeypatch
):
    from rantai.api.routers import parties

    def broken(*args, **kwargs):
        raise RuntimeError("after the update")

    monkeypatch.setattr(parties, "single", broken)
    head = audit_head(acme.organisation)

    response = api_as("admin").patch(
        f"/orgs/acme/parties/{acme.export.pk}", {"name": "X", "version": 1}
    )

    assert response.status_code == 500
    acme.export.refresh_from_db()
    assert (acme.export.name, acme.export.version) == ("Export", 1)
    assert audit_head(acme.organisation) == head
