"""Workload figures written the user's way: Indonesian 0,480 and 1.250, English
0.480 and 1,250 (`rantai.workload.numbers`), the same everywhere on the workload
pages."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.utils.translation import get_language

from rantai.workload.numbers import format_decimal

register = template.Library()


@register.filter
def figure(value: Decimal | int | None, places: int | str | None = None) -> str:
    """`{{ value|figure:3 }}`: rounded half up to `places` decimals in the active
    language; "" for no value (the template says what is missing)."""
    if value is None or value == "":
        return ""
    digits = None if places in (None, "") else int(places)
    return format_decimal(Decimal(value), digits, get_language() or "en")


@register.filter
def figure_upto(value: Decimal | int | None, places: int | str = 2) -> str:
    """`{{ value|figure_upto:2 }}`: at most `places` decimals, no trailing zeros
    (300; 6.006,67), for figures that are usually whole."""
    if value is None or value == "":
        return ""
    rounded = format_decimal(Decimal(value), int(places), "en").replace(",", "")
    return format_decimal(Decimal(rounded), None, get_language() or "en")
