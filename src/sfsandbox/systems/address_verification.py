"""The credit bureau's SOAP address verification service (``VerifyAddress``).

SOAP 1.1, document/literal wrapped, described by ``address_verification.wsdl`` beside
this module. The rules are the bureau's own and deterministic: no reference data of
real streets, only the shape of an address. For US addresses the street is written the
USPS way (upper case, standard suffix and unit abbreviations from USPS Publication 28,
Appendix C); every country's postal code is checked against its usual form where the
bureau knows it.

Requests are parsed with defusedxml (no DTDs, no entities, no network). Faults follow
SOAP 1.1: HTTP 500 with ``soapenv:Fault``, ``faultcode`` and ``faultstring`` (SOAP 1.1,
section 6.2: "the SOAP HTTP server MUST issue an HTTP 500 'Internal Server Error'
response"); input faults are ``soapenv:Client`` with an ``AddressFault`` detail, a
SOAP 1.2 envelope is ``soapenv:VersionMismatch`` (section 4.4.1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from starlette.responses import Response

NS = "http://credit-bureau.sfsandbox.example/AddressVerification/v1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
XML_TYPE = "text/xml; charset=utf-8"
WSDL_FILE = "address_verification.wsdl"
LOCATION_MARK = "SFSANDBOX_SERVICE_URL"
MAX_LENGTH = 200
FIELDS = ("street", "city", "region", "postalCode", "country")
REQUIRED = ("street", "city", "postalCode", "country")

# USPS Publication 28, Appendix C1 (street suffixes), C2 (secondary unit designators)
# and section 233 (directionals): the common ones, and those the seed data uses.
USPS_ABBREVIATIONS = {
    "ALLEY": "ALY", "AVENUE": "AVE", "BOULEVARD": "BLVD", "CENTER": "CTR",
    "CIRCLE": "CIR", "COURT": "CT", "CRESCENT": "CRES", "CROSSROAD": "XRD",
    "DRIVE": "DR", "EXPRESSWAY": "EXPY", "FREEWAY": "FWY", "HIGHWAY": "HWY",
    "INLET": "INLT", "ISLAND": "IS", "LAKE": "LK", "LANE": "LN", "MANOR": "MNR",
    "MANORS": "MNRS", "MISSION": "MSN", "MOUNT": "MT", "PARKWAY": "PKWY",
    "PLACE": "PL", "PLAZA": "PLZ", "PORTS": "PRTS", "ROAD": "RD", "SQUARE": "SQ",
    "STREET": "ST", "TERRACE": "TER", "TRAIL": "TRL", "VIADUCT": "VIA",
    "VILLE": "VL",
    "APARTMENT": "APT", "BUILDING": "BLDG", "FLOOR": "FL", "ROOM": "RM",
    "SUITE": "STE",
    "NORTH": "N", "SOUTH": "S", "EAST": "E", "WEST": "W", "NORTHEAST": "NE",
    "NORTHWEST": "NW", "SOUTHEAST": "SE", "SOUTHWEST": "SW",
}  # fmt: skip

# Where the bureau knows a country's postal code: a pattern over the code with spaces
# and hyphens removed, and how the standard form is written.
POSTAL_CODES: dict[str, tuple[re.Pattern[str], str, str]] = {
    "US": (re.compile(r"(\d{5})(\d{4})?"), "12345 or 12345-6789", "us"),
    "CA": (re.compile(r"([A-Z]\d[A-Z])(\d[A-Z]\d)"), "A1A 1A1", "space"),
    "GB": (re.compile(r"([A-Z]{1,2}\d[A-Z\d]?)(\d[A-Z]{2})"), "SW1A 1AA", "space"),
    "NL": (re.compile(r"(\d{4})([A-Z]{2})"), "1234 AB", "space"),
    "DE": (re.compile(r"(\d{5})"), "12345", "plain"),
    "FR": (re.compile(r"(\d{5})"), "12345", "plain"),
    "ES": (re.compile(r"(\d{5})"), "12345", "plain"),
    "IT": (re.compile(r"(\d{5})"), "12345", "plain"),
    "AU": (re.compile(r"(\d{4})"), "1234", "plain"),
    "JP": (re.compile(r"(\d{3})(\d{4})"), "123-4567", "hyphen"),
}
OTHER_POSTAL_CODE = re.compile(r"[A-Z0-9][A-Z0-9 -]{1,9}")

# Countries whose addresses carry a state or province: its codes.


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


REGIONS = {
    # USPS state, territory and military codes (USPS Publication 28, Appendix B).
    "US": _codes(
        "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS "
        "MO MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI "
        "WY AS GU MP PR VI UM FM MH PW AA AE AP"
    ),
    "CA": _codes("AB BC MB NB NL NS NT NU ON PE QC SK YT"),
    "AU": _codes("ACT NSW NT QLD SA TAS VIC WA"),
}
REGION_NAMES = {"US": "state", "CA": "province", "AU": "state"}


class AddressFault(Exception):
    """A SOAP 1.1 fault; input faults carry an ``AddressFault`` detail."""

    def __init__(
        self,
        faultcode: str,
        faultstring: str,
        code: str | None = None,
        field: str | None = None,
        status: int = 500,
    ) -> None:
        super().__init__(f"{faultcode}: {faultstring}")
        self.faultcode = faultcode
        self.faultstring = faultstring
        self.code = code
        self.field = field
        self.status = status

    @classmethod
    def client(
        cls,
        faultstring: str,
        code: str | None = None,
        field: str | None = None,
        status: int = 500,
    ) -> AddressFault:
        """The request is wrong: sending it again unchanged will fail again."""
        return cls("soapenv:Client", faultstring, code, field, status)

    def response(self, headers: dict[str, str] | None = None) -> Response:
        detail = ""
        if self.code is not None:
            field = f"<av:field>{escape(self.field)}</av:field>" if self.field else ""
            detail = (
                f"<detail><av:AddressFault><av:code>{escape(self.code)}</av:code>"
                f"{field}</av:AddressFault></detail>"
            )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:av="{NS}">'
            "<soapenv:Body><soapenv:Fault>"
            f"<faultcode>{escape(self.faultcode)}</faultcode>"
            f"<faultstring>{escape(self.faultstring)}</faultstring>{detail}"
            "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
        )
        return Response(body, self.status, headers, media_type=XML_TYPE)


@dataclass(frozen=True)
class Verification:
    """What ``VerifyAddress`` answers."""

    valid: bool
    street: str
    city: str
    region: str | None
    postal_code: str
    country: str
    confidence: int
    messages: tuple[str, ...]


@cache
def _wsdl_template() -> str:
    return files("sfsandbox.systems").joinpath(WSDL_FILE).read_text("utf-8")


def wsdl(service_url: str) -> str:
    """The service's WSDL, with ``service_url`` as the port's ``soap:address``."""
    return _wsdl_template().replace(LOCATION_MARK, escape(service_url, {'"': "&quot;"}))


def answer(body: bytes) -> Response:
    """Answer a POST to the service: a ``VerifyAddressResponse`` or a SOAP fault."""
    try:
        values = read_request(body)
        return Response(render(verify(**values)), 200, media_type=XML_TYPE)
    except AddressFault as fault:
        return fault.response()


def read_request(body: bytes) -> dict[str, str | None]:
    """The ``VerifyAddress`` values of a SOAP 1.1 request, checked."""
    try:
        envelope = fromstring(body, forbid_dtd=True)
    except ParseError as error:
        raise AddressFault.client(
            f"The request is not well-formed XML: {error}"
        ) from None
    except DefusedXmlException:
        raise AddressFault.client(
            "DOCTYPE and entity declarations are not allowed"
        ) from None

    if envelope.tag == f"{{{SOAP12_ENV}}}Envelope":
        raise AddressFault(
            "soapenv:VersionMismatch",
            "This service speaks SOAP 1.1: the Envelope must be in the namespace "
            f"{SOAP_ENV}",
        )
    if envelope.tag != f"{{{SOAP_ENV}}}Envelope":
        raise AddressFault.client(
            f"The root element must be a SOAP 1.1 Envelope, not {envelope.tag}"
        )
    soap_body = envelope.find(f"{{{SOAP_ENV}}}Body")
    operation = None if soap_body is None else next(iter(soap_body), None)
    if operation is None:
        raise AddressFault.client("No operation found in the SOAP Body")
    if operation.tag != f"{{{NS}}}VerifyAddress":
        raise AddressFault.client(
            f"No operation available for {operation.tag}; this service has "
            f"{{{NS}}}VerifyAddress"
        )
    return _arguments(operation)


def _arguments(operation: Element) -> dict[str, str | None]:
    values: dict[str, str | None] = dict.fromkeys(FIELDS)
    for child in operation:
        # elementFormDefault="qualified": every argument is in the service namespace.
        qualified, name = child.tag.startswith(f"{{{NS}}}"), child.tag.split("}")[-1]
        if not qualified or name not in FIELDS or values[name] is not None:
            raise AddressFault.client(
                f"Element {child.tag} is not expected here: VerifyAddress takes "
                f"{', '.join(FIELDS)} once each, in the namespace {NS}"
            )
        values[name] = " ".join((child.text or "").split())

    for name in REQUIRED:
        if not values[name]:
            raise AddressFault.client(
                f"{name} is required", "REQUIRED_FIELD_MISSING", name
            )
    for name, value in values.items():
        if value and len(value) > MAX_LENGTH:
            raise AddressFault.client(
                f"{name} is longer than {MAX_LENGTH} characters",
                "FIELD_TOO_LONG",
                name,
            )
    country = values["country"] or ""
    if not re.fullmatch(r"[A-Za-z]{2}", country):
        raise AddressFault.client(
            f"country must be an ISO 3166-1 alpha-2 code such as US, not {country!r}",
            "INVALID_COUNTRY",
            "country",
        )
    values["region"] = values["region"] or None
    return values


def verify(
    street: str,
    city: str,
    postalCode: str,  # the WSDL's name
    country: str,
    region: str | None = None,
) -> Verification:
    """Standardize an address and judge whether it looks deliverable (0–100)."""
    country = country.upper()
    street = " ".join(street.upper().replace(",", " ").split())
    if country == "US":
        street = " ".join(
            USPS_ABBREVIATIONS.get(word.rstrip("."), word) for word in street.split()
        )
    region = region.upper() if region else None
    messages: list[str] = []
    valid = True
    confidence = 100

    postal, problem = _postal_code(postalCode.upper(), country)
    if problem:
        valid, confidence = False, confidence - 60
        messages.append(problem)
    if country not in POSTAL_CODES:
        confidence -= 30
        messages.append(
            f"The bureau has no reference data for {country}: only the form of the "
            "address was checked."
        )
    if not any(character.isdigit() for character in street):
        valid, confidence = False, confidence - 40
        messages.append("The street has no house or building number.")
    if country in REGIONS:
        kind = REGION_NAMES[country]
        if region is None:
            valid, confidence = False, confidence - 20
            messages.append(f"A {kind} is expected in {country} addresses.")
        elif region not in REGIONS[country]:
            valid, confidence = False, confidence - 40
            messages.append(f"{region} is not a {kind} code of {country}.")

    return Verification(
        valid, street, city.upper(), region, postal, country, max(confidence, 0),
        tuple(messages),
    )  # fmt: skip


def _postal_code(value: str, country: str) -> tuple[str, str]:
    """The postal code in its standard form, and what is wrong with it ('' if ok)."""
    known = POSTAL_CODES.get(country)
    if known is None:
        if OTHER_POSTAL_CODE.fullmatch(value):
            return value, ""
        return value, f"The postal code {value} is not in a form the bureau knows."
    pattern, example, style = known
    found = pattern.fullmatch(value.replace(" ", "").replace("-", ""))
    if found is None:
        return value, (
            f"The postal code {value} is not in the form used in {country} ({example})."
        )
    parts = [part for part in found.groups() if part]
    separator = {"us": "-", "space": " ", "hyphen": "-", "plain": ""}[style]
    return separator.join(parts), ""


def render(result: Verification) -> str:
    """A ``VerifyAddressResponse`` envelope, elements in the WSDL's order."""
    address = [
        ("street", result.street),
        ("city", result.city),
        ("region", result.region),
        ("postalCode", result.postal_code),
        ("country", result.country),
    ]
    standardized = "".join(
        f"<{name}>{escape(value)}</{name}>" for name, value in address if value
    )
    messages = "".join(f"<messages>{escape(m)}</messages>" for m in result.messages)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body>'
        f'<VerifyAddressResponse xmlns="{NS}">'
        f"<valid>{'true' if result.valid else 'false'}</valid>"
        f"<standardizedAddress>{standardized}</standardizedAddress>"
        f"<confidence>{result.confidence}</confidence>{messages}"
        "</VerifyAddressResponse></soapenv:Body></soapenv:Envelope>"
    )
