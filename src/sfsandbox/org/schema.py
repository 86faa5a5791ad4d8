"""The org's metadata: sObject types and their fields, as the describe calls report
them.

One place defines every object the sandbox knows; the store makes its tables from it,
SOQL resolves names against it, and the describe endpoints render it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# soapType and the JSON kind of each field type the sandbox uses.
SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "textarea": "xsd:string",
    "picklist": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "url": "xsd:string",
    "currency": "xsd:double",
    "double": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "boolean": "xsd:boolean",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
TEXT_TYPES = {
    "id",
    "reference",
    "string",
    "textarea",
    "picklist",
    "email",
    "phone",
    "url",
}
NUMBER_TYPES = {"currency", "double", "percent", "int"}


@dataclass(frozen=True)
class Field:
    """One field of an sObject, with the properties its describe reports."""

    name: str
    label: str
    type: str
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted_on_create: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    picklist_values: tuple[str, ...] = ()
    restricted_picklist: bool = False
    external_id: bool = False
    unique: bool = False
    name_field: bool = False
    precision: int = 0
    scale: int = 0
    custom: bool = False

    @property
    def required_on_create(self) -> bool:
        """Must a create request supply a value?"""
        return self.createable and not self.nillable and not self.defaulted_on_create

    @property
    def is_text(self) -> bool:
        return self.type in TEXT_TYPES

    @property
    def is_number(self) -> bool:
        return self.type in NUMBER_TYPES

    def describe(self) -> dict[str, Any]:
        """The field as ``GET /sobjects/<name>/describe`` lists it."""
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "soapType": SOAP_TYPES[self.type],
            "length": self.length,
            "precision": self.precision,
            "scale": self.scale,
            "digits": 9 if self.type == "int" else 0,
            "byteLength": self.length * 3,
            "nillable": self.nillable,
            "createable": self.createable,
            "updateable": self.updateable,
            "defaultedOnCreate": self.defaulted_on_create,
            "custom": self.custom,
            "externalId": self.external_id,
            "unique": self.unique,
            "idLookup": self.type == "id" or self.external_id or self.name == "Email",
            "nameField": self.name_field,
            "filterable": self.type != "textarea",
            "sortable": self.type != "textarea",
            "groupable": self.type not in {"textarea", "currency", "double", "percent"},
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "restrictedPicklist": self.restricted_picklist,
            "picklistValues": [
                {
                    "active": True,
                    "defaultValue": False,
                    "label": value,
                    "validFor": None,
                    "value": value,
                }
                for value in self.picklist_values
            ],
        }


@dataclass(frozen=True)
class SObjectType:
    """An sObject type: its names, key prefix and fields."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: tuple[Field, ...]
    custom: bool = False
    _by_lower: dict[str, Field] = field(init=False, repr=False, compare=False)
    field_names: frozenset[str] = field(init=False, repr=False, compare=False)
    boolean_fields: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_lower", {f.name.lower(): f for f in self.fields})
        object.__setattr__(self, "field_names", frozenset(f.name for f in self.fields))
        object.__setattr__(
            self,
            "boolean_fields",
            frozenset(f.name for f in self.fields if f.type == "boolean"),
        )

    def field(self, name: str) -> Field | None:
        """The field called ``name``, matched without regard to case as SOQL does."""
        return self._by_lower.get(name.lower())

    def relationship(self, name: str) -> Field | None:
        """The lookup whose relationship name is ``name`` (``Account`` on Contact)."""
        lower = name.lower()
        for f in self.fields:
            if f.relationship_name and f.relationship_name.lower() == lower:
                return f
        return None

    def url(self, version: str) -> str:
        return f"/services/data/v{version}/sobjects/{self.name}"

    def describe_global(self, version: str) -> dict[str, Any]:
        """The object's entry in ``GET /sobjects/``."""
        base = self.url(version)
        return {
            "activateable": False,
            "createable": True,
            "custom": self.custom,
            "customSetting": False,
            "deletable": True,
            "deprecatedAndHidden": False,
            "feedEnabled": False,
            "hasSubtypes": False,
            "isSubtype": False,
            "keyPrefix": self.key_prefix,
            "label": self.label,
            "labelPlural": self.label_plural,
            "layoutable": True,
            "mergeable": self.name in {"Account", "Contact", "Lead"},
            "mruEnabled": True,
            "name": self.name,
            "queryable": True,
            "replicateable": True,
            "retrieveable": True,
            "searchable": True,
            "triggerable": True,
            "undeletable": True,
            "updateable": True,
            "urls": {
                "rowTemplate": f"{base}/{{ID}}",
                "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
                "describe": f"{base}/describe",
                "sobject": base,
            },
        }

    def describe(self, version: str) -> dict[str, Any]:
        """The full describe: ``GET /sobjects/<name>/describe``."""
        result = self.describe_global(version)
        result.update(
            {
                "childRelationships": [],
                "fields": [f.describe() for f in self.fields],
                "recordTypeInfos": [],
                "supportedScopes": [
                    {"label": "All", "name": "everything"},
                    {"label": "Mine", "name": "mine"},
                ],
            }
        )
        return result


def _system_fields(owner: bool = True) -> list[Field]:
    """The fields the platform maintains on every object."""
    audit = {"nillable": False, "createable": False, "updateable": False}
    fields = [
        Field("Id", "Record ID", "id", length=18, defaulted_on_create=True, **audit),
        Field("IsDeleted", "Deleted", "boolean", defaulted_on_create=True, **audit),
        Field(
            "CreatedDate", "Created Date", "datetime", defaulted_on_create=True, **audit
        ),
        Field(
            "CreatedById",
            "Created By ID",
            "reference",
            length=18,
            reference_to=("User",),
            relationship_name="CreatedBy",
            defaulted_on_create=True,
            **audit,
        ),
        Field(
            "LastModifiedDate",
            "Last Modified Date",
            "datetime",
            defaulted_on_create=True,
            **audit,
        ),
        Field(
            "LastModifiedById",
            "Last Modified By ID",
            "reference",
            length=18,
            reference_to=("User",),
            relationship_name="LastModifiedBy",
            defaulted_on_create=True,
            **audit,
        ),
        Field(
            "SystemModstamp",
            "System Modstamp",
            "datetime",
            defaulted_on_create=True,
            **audit,
        ),
    ]
    if owner:
        fields.insert(
            2,
            Field(
                "OwnerId",
                "Owner ID",
                "reference",
                length=18,
                nillable=False,
                defaulted_on_create=True,
                reference_to=("User",),
                relationship_name="Owner",
            ),
        )
    return fields


def _text(name: str, label: str, length: int = 255, **kw: Any) -> Field:
    return Field(name, label, "string", length=length, **kw)


def _lookup(name: str, label: str, target: str, relationship: str, **kw: Any) -> Field:
    return Field(
        name,
        label,
        "reference",
        length=18,
        reference_to=(target,),
        relationship_name=relationship,
        **kw,
    )


def _external_id() -> Field:
    """The course's custom external ID field: the key an outside system upserts by."""
    return Field(
        "External_Id__c",
        "External Id",
        "string",
        length=255,
        external_id=True,
        unique=True,
        custom=True,
    )


INDUSTRIES = (
    "Agriculture", "Banking", "Chemicals", "Communications", "Construction",
    "Consulting", "Education", "Electronics", "Energy", "Engineering",
    "Finance", "Healthcare", "Hospitality", "Insurance", "Manufacturing",
    "Media", "Retail", "Technology", "Transportation", "Utilities",
)  # fmt: skip
ACCOUNT_TYPES = (
    "Prospect",
    "Customer - Direct",
    "Customer - Channel",
    "Partner",
    "Other",
)
RATINGS = ("Hot", "Warm", "Cold")
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
STAGES = (
    "Prospecting", "Qualification", "Needs Analysis", "Value Proposition",
    "Id. Decision Makers", "Perception Analysis", "Proposal/Price Quote",
    "Negotiation/Review", "Closed Won", "Closed Lost",
)  # fmt: skip
LEAD_STATUSES = (
    "Open - Not Contacted", "Working - Contacted", "Closed - Converted",
    "Closed - Not Converted",
)  # fmt: skip


def _address(prefix: str, label: str) -> list[Field]:
    return [
        Field(f"{prefix}Street", f"{label} Street", "textarea", length=255),
        _text(f"{prefix}City", f"{label} City", 40),
        _text(f"{prefix}State", f"{label} State/Province", 80),
        _text(f"{prefix}PostalCode", f"{label} Zip/Postal Code", 20),
        _text(f"{prefix}Country", f"{label} Country", 80),
    ]


def standard_objects() -> tuple[SObjectType, ...]:
    """The objects every sandbox org has, in the global describe's order."""
    account = SObjectType(
        "Account",
        "Account",
        "Accounts",
        "001",
        (
            *_system_fields(),
            _text("Name", "Account Name", nillable=False, name_field=True),
            _text("AccountNumber", "Account Number", 40),
            Field(
                "Type",
                "Account Type",
                "picklist",
                length=255,
                picklist_values=ACCOUNT_TYPES,
            ),
            Field(
                "Industry",
                "Industry",
                "picklist",
                length=255,
                picklist_values=INDUSTRIES,
            ),
            Field(
                "Rating",
                "Account Rating",
                "picklist",
                length=255,
                picklist_values=RATINGS,
            ),
            Field("AnnualRevenue", "Annual Revenue", "currency", precision=18),
            Field("NumberOfEmployees", "Employees", "int"),
            Field("Phone", "Account Phone", "phone", length=40),
            Field("Website", "Website", "url", length=255),
            *_address("Billing", "Billing"),
            Field("Description", "Account Description", "textarea", length=32000),
            _external_id(),
        ),
    )
    contact = SObjectType(
        "Contact",
        "Contact",
        "Contacts",
        "003",
        (
            *_system_fields(),
            _lookup("AccountId", "Account ID", "Account", "Account"),
            _text("FirstName", "First Name", 40),
            _text("LastName", "Last Name", 80, nillable=False),
            _text(
                "Name",
                "Full Name",
                121,
                createable=False,
                updateable=False,
                name_field=True,
            ),
            _text("Title", "Title", 128),
            Field("Email", "Email", "email", length=80),
            Field("Phone", "Business Phone", "phone", length=40),
            Field(
                "LeadSource",
                "Lead Source",
                "picklist",
                length=255,
                picklist_values=LEAD_SOURCES,
            ),
            *_address("Mailing", "Mailing"),
        ),
    )
    opportunity = SObjectType(
        "Opportunity",
        "Opportunity",
        "Opportunities",
        "006",
        (
            *_system_fields(),
            _lookup("AccountId", "Account ID", "Account", "Account"),
            _text("Name", "Name", 120, nillable=False, name_field=True),
            Field(
                "StageName",
                "Stage",
                "picklist",
                length=255,
                nillable=False,
                picklist_values=STAGES,
            ),
            Field("CloseDate", "Close Date", "date", nillable=False),
            Field("Amount", "Amount", "currency", precision=18, scale=2),
            Field("Probability", "Probability (%)", "percent", precision=3),
            Field(
                "IsClosed",
                "Closed",
                "boolean",
                nillable=False,
                createable=False,
                updateable=False,
                defaulted_on_create=True,
            ),
            Field(
                "IsWon",
                "Won",
                "boolean",
                nillable=False,
                createable=False,
                updateable=False,
                defaulted_on_create=True,
            ),
            Field(
                "LeadSource",
                "Lead Source",
                "picklist",
                length=255,
                picklist_values=LEAD_SOURCES,
            ),
            Field("Description", "Description", "textarea", length=32000),
            # The data warehouse's order number, written back by the nightly sync.
            _text(
                "ERP_Order_Number__c",
                "ERP Order Number",
                20,
                external_id=True,
                unique=True,
                custom=True,
            ),
        ),
    )
    lead = SObjectType(
        "Lead",
        "Lead",
        "Leads",
        "00Q",
        (
            *_system_fields(),
            _text("FirstName", "First Name", 40),
            _text("LastName", "Last Name", 80, nillable=False),
            _text(
                "Name",
                "Full Name",
                121,
                createable=False,
                updateable=False,
                name_field=True,
            ),
            _text("Company", "Company", 255, nillable=False),
            _text("Title", "Title", 128),
            Field("Email", "Email", "email", length=80),
            Field("Phone", "Phone", "phone", length=40),
            Field(
                "Status",
                "Status",
                "picklist",
                length=255,
                nillable=False,
                defaulted_on_create=True,
                picklist_values=LEAD_STATUSES,
            ),
            Field(
                "LeadSource",
                "Lead Source",
                "picklist",
                length=255,
                picklist_values=LEAD_SOURCES,
            ),
            Field(
                "Industry",
                "Industry",
                "picklist",
                length=255,
                picklist_values=INDUSTRIES,
            ),
            Field("Rating", "Rating", "picklist", length=255, picklist_values=RATINGS),
            Field(
                "IsConverted",
                "Converted",
                "boolean",
                nillable=False,
                createable=False,
                updateable=False,
                defaulted_on_create=True,
            ),
            *_address("", "Address")[1:],
            _external_id(),
        ),
    )
    user = SObjectType(
        "User",
        "User",
        "Users",
        "005",
        (
            *_system_fields(owner=False),
            _text("Username", "Username", 80, nillable=False, unique=True),
            _text("FirstName", "First Name", 40),
            _text("LastName", "Last Name", 80, nillable=False),
            _text(
                "Name",
                "Full Name",
                121,
                createable=False,
                updateable=False,
                name_field=True,
            ),
            Field("Email", "Email", "email", length=128, nillable=False),
            Field(
                "IsActive",
                "Active",
                "boolean",
                nillable=False,
                defaulted_on_create=True,
            ),
        ),
    )
    return (account, contact, lead, opportunity, user)


# Defaults the platform fills in on create, by object and field.
CREATE_DEFAULTS: dict[str, dict[str, Any]] = {
    "Lead": {"Status": "Open - Not Contacted", "IsConverted": False},
    "Opportunity": {"IsClosed": False, "IsWon": False},
    "User": {"IsActive": True},
}


class Schema:
    """Every sObject type of one org, found by name without regard to case."""

    def __init__(self, objects: tuple[SObjectType, ...] | None = None) -> None:
        self.objects = objects if objects is not None else standard_objects()
        self._by_lower = {o.name.lower(): o for o in self.objects}
        self._by_prefix = {o.key_prefix: o for o in self.objects}

    def get(self, name: str) -> SObjectType | None:
        return self._by_lower.get(name.lower())

    def by_prefix(self, prefix: str) -> SObjectType | None:
        return self._by_prefix.get(prefix)

    def __iter__(self):
        return iter(self.objects)
