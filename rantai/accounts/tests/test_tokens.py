"""Personal API tokens: shown once, stored only as a SHA-256 digest."""

from __future__ import annotations

import datetime as dt
import hashlib
from unittest import mock

import pytest
from django.utils import timezone

from rantai.accounts import tokens
from rantai.accounts.models import ApiToken
from rantai.core.errors import NotFound, ValidationFailed
from rantai.testing import make_user


def test_a_token_is_stored_as_its_digest_only(db):
    user = make_user("siti")

    token, raw = tokens.create_token(user, name=" laptop ")

    assert raw.startswith("rnt_") and len(raw) == len("rnt_") + 43
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert stored["digest"] == hashlib.sha256(raw.encode()).hexdigest()
    assert stored["prefix"] == raw[:10]
    assert (stored["name"], stored["user_id"], stored["revoked_at"]) == (
        "laptop",
        user.pk,
        None,
    )
    # the secret part appears in no column
    secret = raw[10:]
    assert all(secret not in str(value) for value in stored.values())


def test_a_token_identifies_its_user_and_records_its_use(db):
    user = make_user("siti")
    token, raw = tokens.create_token(user, name="laptop")

    assert tokens.user_for_token(raw) == user

    token.refresh_from_db()
    assert token.last_used_at is not None


def test_last_use_is_written_at_most_once_a_minute(db):
    user = make_user("siti")
    token, raw = tokens.create_token(user, name="laptop")
    tokens.user_for_token(raw)
    token.refresh_from_db()
    first_use = token.last_used_at

    tokens.user_for_token(raw)
    token.refresh_from_db()
    assert token.last_used_at == first_use

    two_minutes_later = first_use + dt.timedelta(minutes=2)
    with mock.patch.object(timezone, "now", return_value=two_minutes_later):
        tokens.user_for_token(raw)
    token.refresh_from_db()
    assert token.last_used_at == two_minutes_later


def test_a_revoked_token_identifies_nobody(db):
    user = make_user("siti")
    token, raw = tokens.create_token(user, name="laptop")

    revoked = tokens.revoke_token(token.pk, user=user)

    assert revoked.revoked_at is not None
    assert not revoked.is_active
    assert tokens.user_for_token(raw) is None
    # revoking again keeps the first revocation time
    assert tokens.revoke_token(token.pk, user=user).revoked_at == revoked.revoked_at


def test_a_token_of_a_deactivated_account_identifies_nobody(db):
    user = make_user("siti")
    _token, raw = tokens.create_token(user, name="laptop")
    user.is_active = False
    user.save(update_fields=["is_active"])

    assert tokens.user_for_token(raw) is None


@pytest.mark.parametrize(
    "raw",
    ["", "rnt_", "rnt_not-a-real-token", "abc_" + "x" * 43, "rnt_" + "x" * 300],
    ids=["empty", "prefix-only", "unknown", "wrong-prefix", "too-long"],
)
def test_made_up_tokens_identify_nobody(db, raw):
    tokens.create_token(make_user("siti"), name="laptop")

    assert tokens.user_for_token(raw) is None


def test_a_raw_token_that_differs_by_one_character_identifies_nobody(db):
    _token, raw = tokens.create_token(make_user("siti"), name="laptop")
    altered = raw[:-1] + ("A" if raw[-1] != "A" else "B")

    assert tokens.user_for_token(altered) is None


def test_only_the_owner_can_revoke_a_token(db):
    owner = make_user("siti")
    other = make_user("budi")
    token, raw = tokens.create_token(owner, name="laptop")

    with pytest.raises(NotFound) as refused:
        tokens.revoke_token(token.pk, user=other)

    assert refused.value.message == "No such token."
    token.refresh_from_db()
    assert token.revoked_at is None
    assert tokens.user_for_token(raw) == owner


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("  ", "Give the token a name."),
        ("x" * 101, "The name may have at most 100 characters."),
    ],
)
def test_a_token_needs_a_short_name(db, name, message):
    user = make_user("siti")

    with pytest.raises(ValidationFailed) as refused:
        tokens.create_token(user, name=name)

    assert refused.value.errors == {"name": [message]}
    assert ApiToken.objects.count() == 0


def test_each_token_is_different(db):
    user = make_user("siti")

    raws = {tokens.create_token(user, name=f"t{n}")[1] for n in range(5)}

    assert len(raws) == 5
    assert {tokens.user_for_token(raw) for raw in raws} == {user}
