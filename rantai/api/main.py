"""The one Rantai API, mounted at /api/v1/ (see docs/api.md).

Authentication: a personal API token (Authorization: Bearer <token>) or the
signed-in session (with CSRF on unsafe methods). Organisation endpoints live under
/orgs/{org_slug}/; an organisation the caller does not belong to answers 404.
"""

from __future__ import annotations

from typing import Any

from ninja import NinjaAPI, Swagger
from ninja.openapi.schema import OpenAPISchema

from rantai.api import problems
from rantai.api.auth import BearerToken, Session
from rantai.api.idempotency import one_transaction_per_write
from rantai.api.routers import (
    approvals,
    audit,
    calendar,
    delegations,
    duties,
    evidence,
    feeds,
    holdings,
    insight,
    me,
    memberships,
    notifications,
    obstacles,
    parties,
    people,
    positions,
    procedures,
    reviews,
    roles,
    routes,
    runs,
    targets,
    tasks,
    webhooks,
    workload,
)

DESCRIPTION = """\
Every organisation object can be listed (paginated with `limit`/`offset`,
filterable), read, created, updated and deactivated, with the same rules as the
web pages.

* **Authentication**: `Authorization: Bearer <token>` with a personal API token
  (web page *API tokens*, or `rantai token create --user NAME`); in the browser,
  your signed-in session.
* **Versions**: updates and actions carry the `version` they were based on (in the
  body, or `If-Match: "<version>"`); a stale one answers 409, a missing one 428.
  Single objects answer with `ETag: "<version>"`.
* **Idempotency**: every POST accepts `Idempotency-Key`; a retry replays the first
  answer with `Idempotent-Replayed: true`.
* **Errors** are RFC 7807 `application/problem+json`.
"""

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error, as RFC 7807 problem details.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "examples": ["urn:rantai:problem:conflict"]},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "For 422: request field name → messages.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
}


class RantaiAPI(NinjaAPI):
    def get_openapi_schema(
        self,
        *,
        path_prefix: str | None = None,
        path_params: dict[str, Any] | None = None,
    ) -> OpenAPISchema:
        """Document the problem responses every operation may give, once."""
        schema = super().get_openapi_schema(
            path_prefix=path_prefix, path_params=path_params
        )
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
            PROBLEM_SCHEMA
        )
        problem = {
            "description": "An error (problem+json)",
            "content": {
                problems.PROBLEM_CONTENT_TYPE: {
                    "schema": {"$ref": "#/components/schemas/Problem"}
                }
            },
        }
        for operations in schema["paths"].values():
            for operation in operations.values():
                # Status codes as strings, as OpenAPI writes them (and sortable).
                responses = {str(k): v for k, v in operation["responses"].items()}
                responses.setdefault("default", problem)
                operation["responses"] = responses
        return schema


api = RantaiAPI(
    title="Rantai API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api",
    auth=[BearerToken(), Session()],
    docs=Swagger(settings={"persistAuthorization": True}),
)
problems.install(api)
api.add_decorator(one_transaction_per_write, mode="view")

api.add_router("", me.router)
for module in (
    parties,
    positions,
    duties,
    people,
    holdings,
    memberships,
    audit,
    calendar,
    procedures,
    runs,
    tasks,
    approvals,
    routes,
    delegations,
    notifications,
    webhooks,
    workload,
    roles,
    evidence,
    obstacles,
    reviews,
    targets,
    insight,
    feeds,
):
    api.add_router("/orgs/{org_slug}", module.router)
