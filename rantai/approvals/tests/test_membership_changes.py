"""Only administrators and members decide: when an approver's membership changes,
the open stage is resolved again, like any other change of who holds authority."""

from __future__ import annotations

import pytest

from rantai.accounts.models import Membership, Role
from rantai.approvals import services
from rantai.approvals.models import Resolution, ResolutionCause, StageApprover
from rantai.approvals.resolution import VIA_VACANT
from rantai.approvals.tests.conftest import Kit
from rantai.org import extensions as org_extensions
from rantai.org import membership as memberships


@pytest.fixture
def hooked(kit: Kit) -> Kit:
    org_extensions.register_holders_changed_handler(services.on_holders_changed)
    return kit


def test_an_approver_whose_membership_ends_is_replaced_by_the_next_superior(hooked):
    kit = hooked
    request = kit.submit(kit.route({"rule": "superior"}))
    stage = kit.stage(request, 1)
    assert kit.approvers(request, 1) == kit.ids("rina")
    access = Membership.objects.get(organisation=kit.o.organisation, user=kit.team.rina)

    memberships.end_membership(
        access, actor=kit.o.admin, expected_version=access.version
    )

    assert kit.approvers(request, 1) == kit.ids("sari")
    assert StageApprover.objects.get(request_stage=stage).via == VIA_VACANT
    assert list(
        Resolution.objects.filter(request_stage=stage)
        .order_by("id")
        .values_list("cause", flat=True)
    ) == [ResolutionCause.OPENED, ResolutionCause.ORG_CHANGED]


def test_an_approver_made_auditor_is_replaced_and_made_member_again_comes_back(
    hooked,
):
    kit = hooked
    request = kit.submit(kit.route({"rule": "superior"}))
    access = Membership.objects.get(organisation=kit.o.organisation, user=kit.team.rina)

    memberships.change_role(
        access, actor=kit.o.admin, expected_version=access.version, role=Role.AUDITOR
    )
    assert kit.approvers(request, 1) == kit.ids("sari")

    access.refresh_from_db()
    memberships.change_role(
        access, actor=kit.o.admin, expected_version=access.version, role=Role.MEMBER
    )
    assert kit.approvers(request, 1) == kit.ids("rina")
