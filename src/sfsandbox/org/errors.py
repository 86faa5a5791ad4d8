"""The org's API errors, each a class that carries its wire error code and HTTP status.

Errors are raised where the fault is found and rendered in one place (the REST layer)
as the platform's body: a JSON array of ``{"message", "errorCode", "fields"?}``.
"""

from __future__ import annotations

from typing import Any

NOT_EMULATED_PAGE = "chapters/not-emulated"


class SalesforceError(Exception):
    """An error the REST API answers with its array body."""

    status: int = 400
    error_code: str = "UNKNOWN_EXCEPTION"

    def __init__(self, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def body(self) -> list[dict[str, Any]]:
        item: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            item["fields"] = list(self.fields)
        return [item]

    def headers(self) -> dict[str, str]:
        return {}


class InvalidSessionId(SalesforceError):
    status = 401
    error_code = "INVALID_SESSION_ID"

    def __init__(self, message: str = "Session expired or invalid") -> None:
        super().__init__(message)

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Token"}


class NotFound(SalesforceError):
    status = 404
    error_code = "NOT_FOUND"

    def __init__(self, message: str = "The requested resource does not exist") -> None:
        super().__init__(message)


class MethodNotAllowed(SalesforceError):
    status = 405
    error_code = "METHOD_NOT_ALLOWED"

    def __init__(self, method: str, allowed: list[str]) -> None:
        super().__init__(
            f"HTTP Method '{method}' not allowed. Allowed are {','.join(allowed)}"
        )
        self.allowed = allowed

    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allowed)}


class UnsupportedMediaType(SalesforceError):
    status = 415
    error_code = "UNSUPPORTED_MEDIA_TYPE"

    def __init__(self, media_type: str) -> None:
        super().__init__(
            f"MediaType of '{media_type}' is not supported by this resource"
        )


class JsonParserError(SalesforceError):
    error_code = "JSON_PARSER_ERROR"


class MalformedQuery(SalesforceError):
    error_code = "MALFORMED_QUERY"


class InvalidQueryFilterOperator(SalesforceError):
    error_code = "INVALID_QUERY_FILTER_OPERATOR"


class InvalidQueryLocator(SalesforceError):
    error_code = "INVALID_QUERY_LOCATOR"

    def __init__(self, message: str = "invalid query locator") -> None:
        super().__init__(message)


class InvalidField(SalesforceError):
    error_code = "INVALID_FIELD"


class InvalidType(SalesforceError):
    error_code = "INVALID_TYPE"


class MalformedId(SalesforceError):
    error_code = "MALFORMED_ID"


class RequiredFieldMissing(SalesforceError):
    error_code = "REQUIRED_FIELD_MISSING"


class InvalidFieldForInsertUpdate(SalesforceError):
    error_code = "INVALID_FIELD_FOR_INSERT_UPDATE"


class InvalidEmailAddress(SalesforceError):
    error_code = "INVALID_EMAIL_ADDRESS"


class InvalidCrossReferenceKey(SalesforceError):
    error_code = "INVALID_CROSS_REFERENCE_KEY"


class StringTooLong(SalesforceError):
    error_code = "STRING_TOO_LONG"


class InvalidOrNullForRestrictedPicklist(SalesforceError):
    error_code = "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


class NumberOutsideValidRange(SalesforceError):
    error_code = "NUMBER_OUTSIDE_VALID_RANGE"


class QueryTooComplicated(SalesforceError):
    error_code = "QUERY_TOO_COMPLICATED"


class EntityIsDeleted(SalesforceError):
    status = 404
    error_code = "ENTITY_IS_DELETED"

    def __init__(self) -> None:
        super().__init__("entity is deleted", [])


class RequestLimitExceeded(SalesforceError):
    """The org's rolling 24-hour API request allocation is spent."""

    status = 403
    error_code = "REQUEST_LIMIT_EXCEEDED"

    def __init__(self, message: str = "TotalRequests Limit exceeded.") -> None:
        super().__init__(message)


class LimitExceeded(SalesforceError):
    error_code = "LIMIT_EXCEEDED"


class ExceededIdLimit(SalesforceError):
    error_code = "EXCEEDED_ID_LIMIT"


class MissingArgument(SalesforceError):
    error_code = "MISSING_ARGUMENT"


class DuplicateValue(SalesforceError):
    error_code = "DUPLICATE_VALUE"


class FieldCustomValidationException(SalesforceError):
    error_code = "FIELD_CUSTOM_VALIDATION_EXCEPTION"


class ProcessingHalted(SalesforceError):
    error_code = "PROCESSING_HALTED"


class InvalidInput(SalesforceError):
    error_code = "INVALID_INPUT"


class MoreThanOneRecord(SalesforceError):
    """An external ID value matches several records: 300 and their URLs."""

    status = 300
    error_code = "MULTIPLE_CHOICES"

    def __init__(self, sobject: str, record_ids: list[str]) -> None:
        super().__init__(f"More than one {sobject} record matches")
        self.sobject = sobject
        self.record_ids = record_ids
        self.version = "62.0"  # set by the REST layer to the request's version

    def body(self) -> list[str]:  # type: ignore[override]
        return [
            f"/services/data/v{self.version}/sobjects/{self.sobject}/{record_id}"
            for record_id in self.record_ids
        ]


class DuplicatesDetected(SalesforceError):
    """A duplicate rule blocked the save; the body names the rule and the matches."""

    error_code = "DUPLICATES_DETECTED"

    def __init__(
        self,
        message: str,
        rule: str,
        matching_rule: str,
        sobject: str,
        record_ids: list[str],
    ) -> None:
        super().__init__(message, [])
        self.rule = rule
        self.matching_rule = matching_rule
        self.sobject = sobject
        self.record_ids = record_ids
        self.version = "62.0"  # set by the REST layer to the request's version

    def body(self) -> list[dict[str, Any]]:
        # The key really is spelled "duplicateResut" on the wire (observed in many
        # public clients that parse it, e.g. rest-assured tests of v51.0).
        matches = [
            {
                "additionalInformation": [],
                "fieldDiffs": [],
                "matchConfidence": 100.0,
                "record": {
                    "attributes": {
                        "type": self.sobject,
                        "url": f"/services/data/v{self.version}/sobjects/"
                        f"{self.sobject}/{record_id}",
                    },
                    "Id": record_id,
                },
            }
            for record_id in self.record_ids
        ]
        return [
            {
                "duplicateResut": {
                    "allowSave": False,
                    "duplicateRule": self.rule,
                    "duplicateRuleEntityType": self.sobject,
                    "errorMessage": self.message,
                    "matchResults": [
                        {
                            "entityType": self.sobject,
                            "errors": [],
                            "matchEngine": "ExactMatchEngine",
                            "matchRecords": matches,
                            "rule": self.matching_rule,
                            "size": len(matches),
                            "success": True,
                        }
                    ],
                },
                "errorCode": self.error_code,
                "message": self.message,
            }
        ]


class UnknownException(SalesforceError):
    """A failure inside the sandbox itself (a check it lacks), never bad input: 500,
    with a message that names what failed so that a learner can report it."""

    status = 500
    error_code = "UNKNOWN_EXCEPTION"


class ApexError(SalesforceError):
    """An exception that no Apex code caught: ``"<Type>: <message>\n\n<stack>"``."""

    status = 500
    error_code = "APEX_ERROR"


class InvalidTypeOnFieldInRecord(SalesforceError):
    """A CSV value that the field's type cannot hold (a bulk job's row error)."""

    error_code = "INVALID_TYPE_ON_FIELD_IN_RECORD"


# Bulk API 2.0's own errors. Their codes follow the platform's spelling for job errors
# (INVALIDJOB, INVALIDJOBSTATE, JOB_NOT_COMPLETE from the reference sheet); the wording
# of each message is the sandbox's own unless the raising code says where it was seen.


class InvalidJob(SalesforceError):
    """A job request the API refuses: a bad operation, object or option."""

    error_code = "INVALIDJOB"


class InvalidJobState(SalesforceError):
    """A request that the job's state does not allow (upload after close, ...)."""

    error_code = "INVALIDJOBSTATE"


class JobNotComplete(SalesforceError):
    """Query results asked for before the query job is complete: 412."""

    status = 412
    error_code = "JOB_NOT_COMPLETE"


class BulkFeatureNotSupported(SalesforceError):
    """SOQL that a Bulk API 2.0 query job refuses (GROUP BY, subqueries, ...)."""

    error_code = "API_ERROR"


class BulkLimitExceeded(SalesforceError):
    """A Bulk API 2.0 allocation of the rolling 24 hours is spent."""

    error_code = "LIMIT_EXCEEDED"


class NotEmulated(SalesforceError):
    """A real platform feature that the sandbox does not emulate.

    The message names the feature and points at the book's page that lists every gap,
    so a learner never mistakes a gap for a bug in their own code.
    """

    error_code = "FUNCTIONALITY_NOT_ENABLED"

    def __init__(self, feature: str) -> None:
        super().__init__(
            f"{feature} is not emulated by sfsandbox. See 'What the sandbox does not "
            "emulate' in the course book for what is missing and why."
        )


class OAuthError(Exception):
    """An OAuth 2.0 token-endpoint error: ``{"error", "error_description"}``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class CannotInsertUpdateActivateEntity(SalesforceError):
    """A trigger threw an exception no code caught: the save fails and rolls back.

    The message is ``"<Trigger>: execution of AfterUpdate\\n\\ncaused by: <Type>:
    <message>"``, as commonly reported for the platform; the platform appends the
    trigger's line and column, which the sandbox has none of (UNVERIFIED: the exact
    trailer).
    """

    error_code = "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
