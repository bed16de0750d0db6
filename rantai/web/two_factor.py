"""Two-factor login in the web UI: the QR code and the rule that administrators of an
organisation requiring two-factor login set it up before they use its pages."""

from __future__ import annotations

from urllib.parse import urlencode

import segno
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django_htmx.http import HttpResponseClientRedirect
from django_otp.plugins.otp_totp.models import TOTPDevice

from rantai.accounts.access import Access
from rantai.accounts.two_factor import has_two_factor


def qr_code_svg(device: TOTPDevice) -> SafeString:
    """The device's otpauth:// URL as an inline SVG QR code (presentation attributes
    only — no style attribute — so the strict CSP allows it)."""
    svg = segno.make(device.config_url, micro=False).svg_inline(
        scale=5,
        border=4,
        dark="#000",
        light="#fff",
        title=_("QR code for your authenticator app"),
        svgclass="qr-code",
        lineclass=None,
    )
    # Safe: segno builds the markup from our own otpauth:// URL.
    return mark_safe(svg)


def enforce_two_factor(request: HttpRequest, access: Access) -> HttpResponse | None:
    """Send an administrator without a verified second factor to set it up (or to
    enter a code) when their organisation requires it; None lets the page through."""
    organisation = access.organisation
    if not (access.is_admin and organisation.requires_admin_two_factor):
        return None
    is_verified = getattr(request.user, "is_verified", None)
    if callable(is_verified) and is_verified():
        return None
    name = "two-factor-verify" if has_two_factor(access.user) else "two-factor"
    url = f"{reverse(name)}?{urlencode({'next': request.get_full_path()})}"
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    return HttpResponseRedirect(url)
