"""The SOAP API's ``login()`` on the partner endpoint, ``/services/Soap/u/NN.0``.

``login()`` takes a username and the password with the security token appended, and
answers a ``LoginResult`` whose ``sessionId`` is also a REST API bearer token, as on the
platform. Every other partner call answers a ``FUNCTIONALITY_NOT_ENABLED`` fault. A
partner WSDL cut down to ``login()`` is served at the sandbox-only path
``/sfsandbox/wsdl/partner.wsdl`` (``Org.partner_wsdl_url``) for clients such as zeep.

Requests are parsed with defusedxml (no DTDs, no entities, no network). Faults follow
SOAP 1.1 as orgs send them: HTTP 500, ``soapenv:Fault`` with ``faultcode`` and
``faultstring``, and for API faults a ``detail`` in the partner fault namespace.

Retirement: ``login()`` is off by default in orgs created in Winter '26 or later and
does not exist from API v65.0 (Salesforce Help, knowledge article 005132110). This
sandbox serves API versions up to 62.0, where ``login()`` still works.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from starlette.responses import Response

from sfsandbox.org.errors import NotEmulated, SalesforceError

if TYPE_CHECKING:
    from sfsandbox.org.org import Org

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER = "urn:partner.soap.sforce.com"
PARTNER_FAULT = "urn:fault.partner.soap.sforce.com"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XML_TYPE = "text/xml; charset=utf-8"
VERSION = re.compile(r"^\d+\.0$")

# Real partner API calls the sandbox does not emulate: named, not "No operation".
PARTNER_CALLS = frozenset(
    {
        "convertLead", "create", "delete", "deleteByExample", "describeGlobal",
        "describeLayout", "describeSObject", "describeSObjects", "describeTabs",
        "emptyRecycleBin", "getDeleted", "getServerTimestamp", "getUpdated",
        "getUserInfo", "invalidateSessions", "logout", "merge", "process", "query",
        "queryAll", "queryMore", "resetPassword", "retrieve", "search", "sendEmail",
        "setPassword", "undelete", "update", "upsert",
    }
)  # fmt: skip

# The LoginFault texts. INVALID_LOGIN: Salesforce SOAP API Developer Guide, login(),
# and simple-salesforce's tests (simple-salesforce/simple-salesforce, tests/
# test_login.py). LOGIN_MUST_USE_SECURITY_TOKEN: the org's answer to a right password
# without the token, as client logs show it (e.g. jsforce test suites on GitHub).
INVALID_LOGIN = "Invalid username, password, security token; or user locked out."
MUST_USE_TOKEN = (
    "Invalid username, password, security token; or user locked out. Are you at a "
    "new location? When accessing Salesforce--either via a desktop client or the "
    "API--from outside of your company\u2019s trusted networks, you must add a "
    "security token to your password to log in. To get your new security token, log "
    "in to Salesforce. From your personal settings, enter Reset My Security Token in "
    "the Quick Find box, then select Reset My Security Token."
)


class SoapFault(Exception):
    """A SOAP 1.1 fault: ``faultcode``, ``faultstring`` and, for API faults, detail."""

    def __init__(
        self,
        faultcode: str,
        faultstring: str,
        detail: tuple[str, str, str] | None = None,
        status: int = 500,
    ) -> None:
        super().__init__(f"{faultcode}: {faultstring}")
        self.faultcode = faultcode
        self.faultstring = faultstring
        self.detail = detail  # (fault type, exceptionCode, exceptionMessage)
        self.status = status

    @classmethod
    def api(
        cls, code: str, message: str, fault_type: str = "UnexpectedErrorFault"
    ) -> SoapFault:
        """An API fault such as ``sf:INVALID_LOGIN`` with its ``sf:`` detail."""
        return cls(f"sf:{code}", f"{code}: {message}", (fault_type, code, message))

    @classmethod
    def client(cls, message: str, status: int = 500) -> SoapFault:
        """A ``soapenv:Client`` fault: the request itself is wrong."""
        return cls("soapenv:Client", message, status=status)

    def response(self, headers: dict[str, str] | None = None) -> Response:
        detail = ""
        if self.detail is not None:
            kind, code, message = self.detail
            detail = (
                f'<detail><sf:{kind} xsi:type="sf:{kind}">'
                f"<sf:exceptionCode>{escape(code)}</sf:exceptionCode>"
                f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
                f"</sf:{kind}></detail>"
            )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:sf="{PARTNER_FAULT}" '
            f'xmlns:xsi="{XSI}"><soapenv:Body><soapenv:Fault>'
            f"<faultcode>{escape(self.faultcode)}</faultcode>"
            f"<faultstring>{escape(self.faultstring)}</faultstring>{detail}"
            "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
        )
        return Response(body, self.status, headers, media_type=XML_TYPE)


def answer(
    org: Org, method: str, body: bytes, version: str, served: set[str]
) -> Response:
    """Answer a request to ``/services/Soap/u/{version}`` (or ``.../{orgId}``)."""
    try:
        if method != "POST":
            # The platform's answer to other methods is not documented; a plain one.
            raise SoapFault.client(
                f"HTTP Method '{method}' not allowed. Allowed are POST", status=405
            )
        if not VERSION.match(version) or version not in served:
            # Observed for login() at an unknown version (github.com/superfell/SoqlX
            # /issues/10); retired and future versions answer the same here.
            raise SoapFault.api(
                "UNSUPPORTED_API_VERSION", "Invalid Api version specified on URL"
            )
        operation = _operation(body)
        if operation.tag == f"{{{PARTNER}}}login":
            return _xml(login(org, operation, version))
        namespace, name = _split(operation.tag)
        if namespace == PARTNER and name in PARTNER_CALLS:
            raise NotEmulated(f"The SOAP API call {name}()")
        # The dispatcher's fault for an element no operation takes (observed:
        # github.com/watzon/salesforce-angular2-boilerplate/issues/14).
        raise SoapFault.client(
            f"No operation available for request {operation.tag}, please check the "
            "WSDL for the service."
        )
    except SoapFault as fault:
        headers = {"Allow": "POST"} if fault.status == 405 else None
        return fault.response(headers)
    except SalesforceError as error:
        return SoapFault.api(error.error_code, error.message).response()


def _operation(body: bytes) -> Element:
    """The first element in the envelope's Body: the call and its arguments."""
    try:
        envelope = fromstring(body, forbid_dtd=True)
    except ParseError as error:
        # A request the parser cannot read is UNKNOWN_EXCEPTION with the parser's
        # message (observed: github.com/forcedotcom/postman-salesforce-apis/issues/26).
        # That fault's faultcode has no sf: prefix. The org's parser is Java's, so its
        # wording of the message differs from this one's.
        raise _unreadable(str(error)) from None
    except DefusedXmlException:
        raise _unreadable("DOCTYPE and entity declarations are not allowed") from None

    if envelope.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapFault.client(f"Element {envelope.tag} invalid at this location")
    soap_body = envelope.find(f"{{{SOAP_ENV}}}Body")
    operation = None if soap_body is None else next(iter(soap_body), None)
    if operation is None:
        raise SoapFault.client("No operation found in the SOAP Body of the request")
    return operation


def _unreadable(message: str) -> SoapFault:
    code = "UNKNOWN_EXCEPTION"
    return SoapFault(
        code, f"{code}: {message}", ("UnexpectedErrorFault", code, message)
    )


def login(org: Org, call: Element, version: str) -> str:
    """``login(username, password)``: a ``loginResponse`` body, or a LoginFault."""
    values: dict[str, str] = {}
    expected = ["username", "password"]
    for child in call:
        namespace, name = _split(child.tag)
        if namespace not in ("", PARTNER) or name not in expected:
            # Schema-checked like the org's parser: "Element {ns}x invalid at this
            # location" (observed: github.com/phpforce/soap-client/issues/34).
            raise SoapFault.client(
                f"Element {{{namespace}}}{name} invalid at this location"
            )
        values[name] = child.text or ""
    if list(values) != expected:
        # Out of order or missing: the platform answers INVALID_LOGIN when the two are
        # swapped (salesforce.stackexchange.com/questions/7680).
        raise SoapFault.api("INVALID_LOGIN", INVALID_LOGIN, "LoginFault")

    username, password = values["username"], values["password"]
    user = org.find_user(username)
    credentials = org.auth.credentials(username)
    if user is None or not user["IsActive"] or credentials is None:
        raise SoapFault.api("INVALID_LOGIN", INVALID_LOGIN, "LoginFault")
    if password == credentials.password:
        raise SoapFault.api(
            "LOGIN_MUST_USE_SECURITY_TOKEN", MUST_USE_TOKEN, "LoginFault"
        )
    if password != credentials.password_and_token:
        raise SoapFault.api("INVALID_LOGIN", INVALID_LOGIN, "LoginFault")

    session = org.auth.start_session(user["Id"], None)
    return _login_result(org, user, session.access_token, version)


def _login_result(org: Org, user: dict, session_id: str, version: str) -> str:
    """A ``loginResponse`` in the partner namespace, fields in the WSDL's order."""
    org15 = org.org_id[:15]
    seconds_valid = int(org.auth.session_timeout.total_seconds())
    # GetUserInfoResult: the fields of the current partner WSDL (jsforce's typed copy,
    # jsforce.github.io/jsforce/types/api_soap_schema.GetUserInfoResult.html).
    user_info = [
        ("accessibilityMode", "false"),
        ("chatterExternal", "false"),
        ("currencySymbol", "$"),
        ("orgAttachmentFileSizeLimit", "5242880"),
        ("orgDefaultCurrencyIsoCode", "USD"),
        ("orgDefaultCurrencyLocale", "en_US"),
        ("orgDisallowHtmlAttachments", "false"),
        ("orgHasPersonAccounts", "false"),
        ("organizationId", org.org_id),
        ("organizationMultiCurrency", "false"),
        ("organizationName", org.name),
        ("profileId", org.profile_id),
        ("roleId", None),
        ("sessionSecondsValid", str(seconds_valid)),
        ("userDefaultCurrencyIsoCode", None),
        ("userEmail", user["Email"]),
        ("userFullName", user["Name"] or ""),
        ("userId", user["Id"]),
        ("userLanguage", "en_US"),
        ("userLocale", "en_US"),
        ("userName", user["Username"]),
        ("userTimeZone", "GMT"),
        ("userType", "Standard"),
        ("userUiSkin", "Theme3"),
    ]
    result = [
        ("metadataServerUrl", f"{org.instance_url}/services/Soap/m/{version}/{org15}"),
        ("passwordExpired", "false"),
        ("sandbox", "true" if org.is_sandbox else "false"),
        ("serverUrl", f"{org.instance_url}/services/Soap/u/{version}/{org15}"),
        ("sessionId", session_id),
        ("userId", user["Id"]),
    ]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns="{PARTNER}" '
        f'xmlns:xsi="{XSI}"><soapenv:Body><loginResponse><result>'
        f"{_elements(result)}<userInfo>{_elements(user_info)}</userInfo>"
        "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )


def _split(tag: str) -> tuple[str, str]:
    """``{namespace}name`` as (namespace, name); no namespace is ''."""
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


def _elements(fields: list[tuple[str, str | None]]) -> str:
    return "".join(
        f'<{name} xsi:nil="true"/>'
        if value is None
        else f"<{name}>{escape(value)}</{name}>"
        for name, value in fields
    )


def _xml(body: str) -> Response:
    return Response(body, 200, media_type=XML_TYPE)


def partner_wsdl(endpoint: str) -> str:
    """A partner WSDL cut down to ``login()``, its result types and its faults.

    Names, namespaces and the binding follow the partner WSDL an org generates
    (e.g. developerforce/Force.com-Toolkit-for-PHP, soapclient/partner.wsdl.xml), so a
    client built from it speaks to a real org the same way for ``login()``.
    """
    strings = (
        "currencySymbol",
        "orgDefaultCurrencyIsoCode",
        "orgDefaultCurrencyLocale",
    )
    user_info = "".join(
        f'<element name="{name}" type="{kind}"{nil}/>'
        for name, kind, nil in [
            ("accessibilityMode", "xsd:boolean", ""),
            ("chatterExternal", "xsd:boolean", ""),
            (strings[0], "xsd:string", ' nillable="true"'),
            ("orgAttachmentFileSizeLimit", "xsd:int", ""),
            (strings[1], "xsd:string", ' nillable="true"'),
            (strings[2], "xsd:string", ' nillable="true"'),
            ("orgDisallowHtmlAttachments", "xsd:boolean", ""),
            ("orgHasPersonAccounts", "xsd:boolean", ""),
            ("organizationId", "tns:ID", ""),
            ("organizationMultiCurrency", "xsd:boolean", ""),
            ("organizationName", "xsd:string", ""),
            ("profileId", "tns:ID", ""),
            ("roleId", "tns:ID", ' nillable="true"'),
            ("sessionSecondsValid", "xsd:int", ""),
            ("userDefaultCurrencyIsoCode", "xsd:string", ' nillable="true"'),
            ("userEmail", "xsd:string", ""),
            ("userFullName", "xsd:string", ""),
            ("userId", "tns:ID", ""),
            ("userLanguage", "xsd:string", ""),
            ("userLocale", "xsd:string", ""),
            ("userName", "xsd:string", ""),
            ("userTimeZone", "xsd:string", ""),
            ("userType", "xsd:string", ""),
            ("userUiSkin", "xsd:string", ""),
        ]
    )
    faults = ("LoginFault", "UnexpectedErrorFault")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!--
Salesforce partner web services API, cut down by sfsandbox to the login() call.
A real org offers its full partner WSDL in Setup (API > Generate Partner WSDL).
-->
<definitions targetNamespace="{PARTNER}"
    xmlns="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:fns="{PARTNER_FAULT}"
    xmlns:tns="{PARTNER}">
  <types>
    <schema elementFormDefault="qualified" xmlns="http://www.w3.org/2001/XMLSchema"
        targetNamespace="{PARTNER}">
      <simpleType name="ID">
        <restriction base="xsd:string">
          <length value="18"/>
          <pattern value="[a-zA-Z0-9]{{18}}"/>
        </restriction>
      </simpleType>
      <complexType name="GetUserInfoResult">
        <sequence>{user_info}</sequence>
      </complexType>
      <complexType name="LoginResult">
        <sequence>
          <element name="metadataServerUrl" type="xsd:string" nillable="true"/>
          <element name="passwordExpired" type="xsd:boolean"/>
          <element name="sandbox" type="xsd:boolean"/>
          <element name="serverUrl" type="xsd:string" nillable="true"/>
          <element name="sessionId" type="xsd:string" nillable="true"/>
          <element name="userId" type="tns:ID" nillable="true"/>
          <element name="userInfo" type="tns:GetUserInfoResult" minOccurs="0"/>
        </sequence>
      </complexType>
      <element name="login">
        <complexType>
          <sequence>
            <element name="username" type="xsd:string"/>
            <element name="password" type="xsd:string"/>
          </sequence>
        </complexType>
      </element>
      <element name="loginResponse">
        <complexType>
          <sequence><element name="result" type="tns:LoginResult"/></sequence>
        </complexType>
      </element>
    </schema>
    <schema elementFormDefault="qualified" xmlns="http://www.w3.org/2001/XMLSchema"
        targetNamespace="{PARTNER_FAULT}">
      <complexType name="ApiFault">
        <sequence>
          <element name="exceptionCode" type="xsd:string"/>
          <element name="exceptionMessage" type="xsd:string"/>
        </sequence>
      </complexType>
      <complexType name="LoginFault">
        <complexContent><extension base="fns:ApiFault"/></complexContent>
      </complexType>
      <element name="LoginFault" type="fns:LoginFault"/>
      <complexType name="UnexpectedErrorFault">
        <complexContent><extension base="fns:ApiFault"/></complexContent>
      </complexType>
      <element name="UnexpectedErrorFault" type="fns:UnexpectedErrorFault"/>
    </schema>
  </types>
  <message name="loginRequest"><part element="tns:login" name="parameters"/></message>
  <message name="loginResponse">
    <part element="tns:loginResponse" name="parameters"/>
  </message>
  <message name="{faults[0]}"><part element="fns:{faults[0]}" name="fault"/></message>
  <message name="{faults[1]}"><part element="fns:{faults[1]}" name="fault"/></message>
  <portType name="Soap">
    <operation name="login">
      <documentation>Login to the Salesforce.com SOAP Api</documentation>
      <input message="tns:loginRequest"/>
      <output message="tns:loginResponse"/>
      <fault message="tns:{faults[0]}" name="{faults[0]}"/>
      <fault message="tns:{faults[1]}" name="{faults[1]}"/>
    </operation>
  </portType>
  <binding name="SoapBinding" type="tns:Soap">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <operation name="login">
      <soap:operation soapAction=""/>
      <input><soap:body parts="parameters" use="literal"/></input>
      <output><soap:body use="literal"/></output>
      <fault name="{faults[0]}"><soap:fault name="{faults[0]}" use="literal"/></fault>
      <fault name="{faults[1]}"><soap:fault name="{faults[1]}" use="literal"/></fault>
    </operation>
  </binding>
  <service name="SforceService">
    <documentation>Sforce SOAP API</documentation>
    <port binding="tns:SoapBinding" name="Soap">
      <soap:address location="{escape(endpoint)}"/>
    </port>
  </service>
</definitions>
"""


def wsdl_response(org: Org) -> Response:
    """``GET /sfsandbox/wsdl/partner.wsdl``: the WSDL, pointing at this org."""
    return Response(partner_wsdl(org.soap_url), 200, media_type=XML_TYPE)
