"""The organisation model: parties (nested internal units and external partners),
positions with job descriptions and duties, people, and who holds which position."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from rantai.core.models import Versioned


class PartyKind(models.TextChoices):
    INTERNAL_UNIT = "internal_unit", _("Internal unit")
    EXTERNAL_PARTNER = "external_partner", _("External partner")


class PartyQuerySet(models.QuerySet["Party"]):
    def active(self) -> PartyQuerySet:
        return self.filter(is_active=True)

    def internal_units(self) -> PartyQuerySet:
        return self.filter(kind=PartyKind.INTERNAL_UNIT)

    def external_partners(self) -> PartyQuerySet:
        return self.filter(kind=PartyKind.EXTERNAL_PARTNER)


class Party(Versioned):
    """Someone who takes part in a chain: an internal unit (units nest) or an
    external partner (forwarder, supplier, customer)."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="parties"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=PartyKind.choices)
    name = models.CharField(_("name"), max_length=200)
    code = models.CharField(_("code"), max_length=30)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent unit"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
    )
    description = models.TextField(_("description"), blank=True)
    head_position = models.ForeignKey(
        "org.Position",
        verbose_name=_("head position"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="headed_parties",
    )
    is_active = models.BooleanField(_("active"), default=True)

    objects = PartyQuerySet.as_manager()

    class Meta:
        verbose_name = _("party")
        verbose_name_plural = _("parties")
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "code"],
                name="party_code_unique_per_org",
                violation_error_message=_("Another party already uses this code."),
            ),
            models.CheckConstraint(
                condition=Q(parent__isnull=True) | Q(kind="internal_unit"),
                name="only_internal_units_nest",
                violation_error_message=_(
                    "Only internal units can sit under a parent unit."
                ),
            ),
            models.CheckConstraint(
                condition=~Q(parent=F("id")),
                name="party_not_own_parent",
                violation_error_message=_("A unit cannot be its own parent."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_internal(self) -> bool:
        return self.kind == PartyKind.INTERNAL_UNIT

    def clean(self) -> None:
        if self.parent_id is not None:
            if self.kind != PartyKind.INTERNAL_UNIT:
                raise ValidationError(
                    {"parent": _("Only internal units can sit under a parent unit.")}
                )
            if self.parent is not None and self.parent.kind != PartyKind.INTERNAL_UNIT:
                raise ValidationError(
                    {"parent": _("The parent must be an internal unit.")}
                )
            if (
                self.parent is not None
                and self.parent.organisation_id != self.organisation_id
            ):
                raise ValidationError(
                    {"parent": _("The parent belongs to another organisation.")}
                )


class PositionQuerySet(models.QuerySet["Position"]):
    def active(self) -> PositionQuerySet:
        return self.filter(is_active=True)


class Position(Versioned):
    """A position (jabatan) in a party, with its job description and superior."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="positions"
    )
    party = models.ForeignKey(
        Party,
        verbose_name=_("party"),
        on_delete=models.PROTECT,
        related_name="positions",
    )
    title = models.CharField(_("title"), max_length=200)
    code = models.CharField(_("code"), max_length=30)
    superior = models.ForeignKey(
        "self",
        verbose_name=_("superior position"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="subordinates",
    )
    job_summary = models.TextField(_("job description"), blank=True)
    max_holders = models.PositiveSmallIntegerField(
        _("number of holders allowed"),
        default=1,
        help_text=_(
            "1 for a single-holder position; acting holders (Plt) come on top."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)

    objects = PositionQuerySet.as_manager()

    class Meta:
        verbose_name = _("position")
        verbose_name_plural = _("positions")
        ordering = ["title"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "code"],
                name="position_code_unique_per_org",
                violation_error_message=_("Another position already uses this code."),
            ),
            models.CheckConstraint(
                condition=Q(max_holders__gte=1),
                name="position_allows_a_holder",
                violation_error_message=_("A position must allow at least one holder."),
            ),
            models.CheckConstraint(
                condition=~Q(superior=F("id")),
                name="position_not_own_superior",
                violation_error_message=_("A position cannot be its own superior."),
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_single_holder(self) -> bool:
        return self.max_holders == 1

    def clean(self) -> None:
        if (
            self.party_id
            and self.organisation_id
            and self.party.organisation_id != self.organisation_id
        ):
            raise ValidationError(
                {"party": _("The party belongs to another organisation.")}
            )
        if (
            self.superior_id
            and self.superior is not None
            and self.superior.organisation_id != self.organisation_id
        ):
            raise ValidationError(
                {"superior": _("The superior belongs to another organisation.")}
            )


class Duty(Versioned):
    """A duty (tugas jabatan) in a position's job description, with its output unit."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="duties"
    )
    position = models.ForeignKey(
        Position,
        verbose_name=_("position"),
        on_delete=models.PROTECT,
        related_name="duties",
    )
    title = models.CharField(_("duty"), max_length=300)
    output_unit = models.CharField(
        _("output unit"), max_length=100, help_text=_("e.g. document, shipment, report")
    )
    description = models.TextField(_("description"), blank=True)
    sort_order = models.PositiveIntegerField(_("order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("duty")
        verbose_name_plural = _("duties")
        ordering = ["sort_order", "id"]

    def __str__(self) -> str:
        return self.title


class Person(Versioned):
    """A person in one organisation; may be linked to a login, need not be."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="people"
    )
    full_name = models.CharField(_("full name"), max_length=200)
    email = models.EmailField(_("e-mail address"), blank=True)
    employee_number = models.CharField(_("employee number"), max_length=40, blank=True)
    party = models.ForeignKey(
        Party,
        verbose_name=_("party"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="people",
        help_text=_("For people of an external partner: the partner they work for."),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("login"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="people",
    )
    is_active = models.BooleanField(_("active"), default=True)

    # Fields whose values are personal data (kept out of the audit hash).
    PERSONAL_FIELDS = frozenset({"full_name", "email", "employee_number"})

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        ordering = ["full_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "user"],
                condition=Q(user__isnull=False),
                name="one_person_per_user_per_org",
                violation_error_message=_(
                    "This login is already linked to another person."
                ),
            ),
            models.UniqueConstraint(
                fields=["organisation", "employee_number"],
                condition=~Q(employee_number=""),
                name="employee_number_unique_per_org",
                violation_error_message=_(
                    "Another person already has this employee number."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.full_name


class HoldingQuerySet(models.QuerySet["Holding"]):
    def current(self, on=None) -> HoldingQuerySet:
        from django.utils import timezone

        day = on or timezone.localdate()
        return self.filter(start_date__lte=day).filter(
            Q(end_date__isnull=True) | Q(end_date__gte=day)
        )


class Holding(Versioned):
    """A person holds a position from a date, until a date; acting (Plt) or definitive."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="holdings"
    )
    position = models.ForeignKey(
        Position,
        verbose_name=_("position"),
        on_delete=models.PROTECT,
        related_name="holdings",
    )
    person = models.ForeignKey(
        Person,
        verbose_name=_("person"),
        on_delete=models.PROTECT,
        related_name="holdings",
    )
    start_date = models.DateField(_("from"))
    end_date = models.DateField(_("until"), null=True, blank=True)
    is_acting = models.BooleanField(
        _("acting holder (Plt)"),
        default=False,
        help_text=_("Holds the position for a while, with all its authority."),
    )

    objects = HoldingQuerySet.as_manager()

    class Meta:
        verbose_name = _("holder")
        verbose_name_plural = _("holders")
        ordering = ["-start_date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                name="holding_dates_in_order",
                violation_error_message=_(
                    "The end date must not be before the start date."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} — {self.position}"

    def overlaps(self, start, end) -> bool:  # type: ignore[no-untyped-def]
        mine_end = self.end_date
        return (end is None or self.start_date <= end) and (
            mine_end is None or start <= mine_end
        )


class AbsenceKind(models.TextChoices):
    LEAVE = "leave", _("leave")
    TRAVEL = "travel", _("official travel")
    SICK = "sick", _("sick leave")
    OTHER = "other", _("other")


class Absence(Versioned):
    """A person is away (cuti, dinas luar) from a moment until a moment. Approvals
    use it for substitutes (with a delegate named, it delegates approval authority);
    assignment uses it to pass over people who are away."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="absences"
    )
    person = models.ForeignKey(
        Person,
        verbose_name=_("person"),
        on_delete=models.PROTECT,
        related_name="absences",
    )
    kind = models.CharField(
        _("kind"), max_length=10, choices=AbsenceKind.choices, default=AbsenceKind.LEAVE
    )
    starts_at = models.DateTimeField(_("from"))
    ends_at = models.DateTimeField(_("until"))
    note = models.CharField(_("note"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)

    class Meta:
        verbose_name = _("absence")
        verbose_name_plural = _("absences")
        ordering = ["-starts_at", "-id"]
        indexes = [models.Index(fields=["person", "ends_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")),
                name="absence_ends_after_start",
                violation_error_message=_("The end must be after the start."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} ({self.get_kind_display()})"
