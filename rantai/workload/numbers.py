"""Decimal numbers as people type and read them, in Indonesian and in English (pure).

Indonesian writes 1.250,5 (a point groups thousands, a comma marks decimals); English
writes 1,250.5. `parse_decimal` reads what a person typed and refuses anything it
would have to guess; `format_decimal` writes a number the way the language reads it.
Neither touches floats.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext

from django.utils import translation
from django.utils.translation import gettext as _

__all__ = ["decimal_marks", "format_decimal", "parse_decimal"]

# Spaces a spreadsheet or a keyboard may put between digit groups.
_IGNORED = str.maketrans("", "", " \u00a0\u202f\u2009\t")
_ALLOWED = re.compile(r"[0-9.,]*")
_GROUP_TAIL = re.compile(r"[0-9]{3}")
_LEADING_GROUP = re.compile(r"[1-9][0-9]{0,2}")


def decimal_marks(language: str | None) -> tuple[str, str]:
    """(decimal mark, group mark) of the language: Indonesian "," and ".", else
    English "." and ","."""
    if (language or "").lower().replace("_", "-").split("-")[0] == "id":
        return ",", "."
    return ".", ","


def _example(language: str | None) -> str:
    return "1.250,5" if decimal_marks(language)[0] == "," else "1,250.5"


def _grouped_digits(text: str, group_mark: str) -> str | None:
    """The digits of an integer part grouped in threes ("1.250.000"), or None when
    the grouping is wrong ("1.25.0", "0.500", "1250.000")."""
    head, *tail = text.split(group_mark)
    if not _LEADING_GROUP.fullmatch(head):
        return None
    if not all(_GROUP_TAIL.fullmatch(group) for group in tail):
        return None
    return head + "".join(tail)


def _refuse(message: str) -> ValueError:
    return ValueError(message)


def parse_decimal(text: str, language: str) -> Decimal:
    """The number a person typed, read with the language's marks.

    Both marks present: the last one is the decimal mark and the other groups digits
    in threes. One mark repeated: it groups digits. One single mark: the language's
    decimal mark is decimal; the language's group mark counts as grouping only when
    exactly three digits follow it (Indonesian "1.250" is 1250), otherwise it is
    refused with a hint ("write 1,5"), since guessing could make 1.5 into 15.
    Spaces are ignored; a leading sign is allowed. Raises ValueError with a message
    translated into `language`.
    """
    with translation.override(language):
        decimal_mark, group_mark = decimal_marks(language)
        cleaned = (text or "").translate(_IGNORED).replace("\u2212", "-")
        if not cleaned:
            raise _refuse(_("Enter a number."))
        sign = ""
        if cleaned[0] in "+-":
            sign, cleaned = ("-" if cleaned[0] == "-" else ""), cleaned[1:]
        if (
            not cleaned
            or not _ALLOWED.fullmatch(cleaned)
            or not any(character.isdigit() for character in cleaned)
        ):
            raise _refuse(
                _(
                    "Enter a number: digits, with separators written the usual way, for example %(example)s."
                )
                % {"example": _example(language)}
            )
        if cleaned[-1] in ".,":
            raise _refuse(
                _("Enter the digits after the decimal mark, for example %(example)s.")
                % {"example": _example(language)}
            )
        wrong_grouping = _("Group the digits in threes, for example %(example)s.") % {
            "example": _example(language)
        }
        points, commas = cleaned.count("."), cleaned.count(",")
        integer, fraction = cleaned, ""
        if points and commas:
            # The last mark is the decimal mark: once, after every group mark.
            last = "." if cleaned.rfind(".") > cleaned.rfind(",") else ","
            if cleaned.count(last) > 1:
                raise _refuse(_("The number has more than one decimal mark."))
            integer, fraction = cleaned.split(last)
            grouped = _grouped_digits(integer, "," if last == "." else ".")
            if grouped is None:
                raise _refuse(wrong_grouping)
            integer = grouped
        elif points > 1 or commas > 1:
            grouped = _grouped_digits(cleaned, "." if points else ",")
            if grouped is None:
                raise _refuse(wrong_grouping)
            integer = grouped
        elif points or commas:
            mark = "." if points else ","
            before, after = cleaned.split(mark)
            if mark == decimal_mark:
                integer, fraction = before, after
            else:
                grouped = _grouped_digits(cleaned, group_mark)
                if grouped is None:
                    raise _refuse(
                        _("Use %(mark)s as the decimal mark: write %(suggestion)s.")
                        % {
                            "mark": f"“{decimal_mark}”",
                            "suggestion": f"{sign}{before}{decimal_mark}{after}",
                        }
                    )
                integer = grouped
        return Decimal(f"{sign}{integer or '0'}" + (f".{fraction}" if fraction else ""))


def format_decimal(value: Decimal | int, places: int | None, language: str) -> str:
    """The number written with the language's marks and thousands grouping, rounded
    half up to `places` decimals (None: as many as the value has, without trailing
    zeros). Indonesian 1.250,0480; English 1,250.0480; negatives with a leading
    minus."""
    decimal_mark, group_mark = decimal_marks(language)
    number = Decimal(value)
    if places is None:
        text = format(number.copy_abs(), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    else:
        # Enough precision for any quantization: never rounds the integer part.
        _sign, digits, exponent = number.as_tuple()
        size = len(digits) + abs(int(exponent))
        with localcontext(Context(prec=max(28, size + places + 2))):
            number = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        text = format(number.copy_abs(), "f")
    integer, _point, fraction = text.partition(".")
    groups: list[str] = []
    while len(integer) > 3:
        groups.insert(0, integer[-3:])
        integer = integer[:-3]
    groups.insert(0, integer)
    result = group_mark.join(groups)
    if fraction:
        result += decimal_mark + fraction
    negative = number < 0 and text.strip("0.") != ""
    return ("-" if negative else "") + result
