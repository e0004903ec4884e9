"""Destination numbers used by the end-to-end tests, and what tollgate must do.

Line-type numbers are libphonenumber ``exampleNumber`` values from
``../shared/data/libphonenumber/PhoneNumberMetadata.xml`` (checked by
``test_numbers_are_libphonenumber_examples`` in test_fake_direct.py), so they
are real, valid numbers of that exact type.  The deny-list numbers match the
lists in ``policy.toml``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    id: str
    e164: str  # "+..."
    reason: str  # "allow" | "invalid" | "line_type" | "geo" | "fraud"
    territory: str = ""  # libphonenumber territory, for the metadata check
    line_type: str = ""  # libphonenumber element name, for the metadata check
    needs_classifier: bool = False  # only the real classifier can decide it

    @property
    def digits(self) -> str:
        """Vonage style: no '+'."""
        return self.e164.lstrip("+")


# Valid mobiles in several countries: must be forwarded.
ALLOWED = [
    Case("gb-mobile", "+447400123456", "allow", "GB", "mobile"),
    Case("de-mobile", "+4915123456789", "allow", "DE", "mobile"),
    Case("fr-mobile", "+33612345678", "allow", "FR", "mobile"),
    Case("in-mobile", "+918123456789", "allow", "IN", "mobile"),
    Case("br-mobile", "+5511961234567", "allow", "BR", "mobile"),
    Case("au-mobile", "+61412345678", "allow", "AU", "mobile"),
]
ALLOWED_MAIN = ALLOWED[0]

# Too short for any plan: invalid, whatever the classifier.
INVALID = Case("too-short", "+1234", "invalid")
# Vonage Verify v2 / Messages validate `to` client-side (^[1-9]\d{6,14}$), so
# the invalid number there must have 7+ digits: +44 12345 is far too short
# for the GB plan (10 national digits).
INVALID_7 = Case("gb-too-short", "+4412345", "invalid", needs_classifier=True)

# Line types that cannot receive an OTP SMS (policy block_line_types).
# NEED THE REAL CLASSIFIER: these fail until it lands (by design, not skipped).
LINE_TYPE = [
    Case("gb-premium", "+449012345678", "line_type", "GB", "premiumRate", True),
    Case("de-premium", "+499001234567", "line_type", "DE", "premiumRate", True),
    Case("gb-fixed", "+441212345678", "line_type", "GB", "fixedLine", True),
    Case("fr-fixed", "+33123456789", "line_type", "FR", "fixedLine", True),
    Case("gb-tollfree", "+448001234567", "line_type", "GB", "tollFree", True),
    Case("in-sharedcost", "+9118603451234", "line_type", "IN", "sharedCost", True),
    Case("gb-uan", "+445512345678", "line_type", "GB", "uan", True),
    Case("gb-pager", "+447640123456", "line_type", "GB", "pager", True),
    Case("de-voicemail", "+49177991234567", "line_type", "DE", "voicemail", True),
]
LINE_TYPE_MAIN = LINE_TYPE[0]

# Country deny list (policy: KP, SO) -> "geo".  Valid mobiles, so only the
# list can block them.
GEO = [
    Case("kp-mobile", "+8501921234567", "geo", "KP", "mobile"),
    Case("so-mobile", "+25271123456", "geo", "SO", "mobile"),
]

# Number and range deny lists -> "fraud".
FRAUD = [
    Case("deny-number", "+447700900999", "fraud"),
    Case("deny-range", "+447700900123", "fraud"),  # range prefix +4477009001
]

BLOCKED = [INVALID] + GEO + FRAUD + LINE_TYPE

ALL_NUMBERS = [c.e164 for c in ALLOWED + BLOCKED + [INVALID_7]]
