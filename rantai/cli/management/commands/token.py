from __future__ import annotations

from django.core.management import BaseCommand, CommandError

from rantai.accounts import tokens
from rantai.accounts.models import ApiToken, User
from rantai.core.errors import DomainError


class Command(BaseCommand):
    help = "Manage personal API tokens: `rantai token create --user NAME [--name LABEL]`, `list`, `revoke`."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a token and print it once.")
        create.add_argument("--user", required=True, help="user name")
        create.add_argument(
            "--name", default="command line", help="a label for the token"
        )
        listing = sub.add_parser("list", help="List a user's tokens.")
        listing.add_argument("--user", required=True)
        revoke = sub.add_parser("revoke", help="Revoke a token by id.")
        revoke.add_argument("--user", required=True)
        revoke.add_argument("id", type=int)

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        user = User.objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user named {options['user']!r}.")
        try:
            if options["action"] == "create":
                token, raw = tokens.create_token(user, name=options["name"])
                self.stderr.write(
                    f"Token {token.pk} ({token.name}) for {user.username}. It is shown only once:"
                )
                self.stdout.write(raw)
            elif options["action"] == "list":
                for token in ApiToken.objects.filter(user=user):
                    state = "revoked" if token.revoked_at else "active"
                    self.stdout.write(
                        f"{token.pk}\t{token.prefix}…\t{state}\t{token.name}"
                    )
            else:
                tokens.revoke_token(options["id"], user=user)
                self.stdout.write(f"Token {options['id']} revoked.")
        except DomainError as error:
            raise CommandError(error.message) from error
