"""Building blocks shared by the wafleet.io resources.

The pydantic models are the single source of truth: the CRD schemas in crds/ are
generated from them (``make crds``) and the operator parses kopf's dicts with
them. Every constraint therefore lives here once, in a form both pydantic and
the OpenAPI converter in :mod:`wafleet_operator.crdgen` understand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from session_runner.contract.resources import GROUP as GROUP
from session_runner.contract.resources import VERSION as VERSION

from .quantity import QUANTITY_MAX_LENGTH, exceeds

API_VERSION: Final = "wafleet.io/v1alpha1"  # GROUP/VERSION, spelled out for Literal types

#: pydantic error type of a failed cross-field rule (the Python twin of a CEL rule).
CEL_ERROR_TYPE = "x_kubernetes_validation"


@dataclass(frozen=True)
class CelRule:
    """A cross-field rule, enforced twice from one declaration.

    The API server evaluates ``rule`` (CEL, as ``x-kubernetes-validations``);
    pydantic evaluates ``check`` so the operator, the CLI and the tests reject
    the same objects without a cluster. Keep both sides trivially equivalent.
    """

    rule: str
    message: str
    check: Callable[[Any], bool]
    field_path: str | None = None
    reason: str = "FieldValueInvalid"
    #: False for a path the API server cannot resolve in the schema (metadata.name:
    #: metadata has no properties there), which it refuses as a fieldPath; the path
    #: then only names the field in offline errors, and the message must name it.
    server_field_path: bool = True
    #: True for a rule that holds at create only: the rule may read ``oldSelf``, an
    #: optional that has a value on updates (``oldSelf.hasValue() || ...``).
    optional_old_self: bool = False

    def to_crd(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "message": self.message}
        if self.field_path and self.server_field_path:
            out["fieldPath"] = self.field_path
        out["reason"] = self.reason
        if self.optional_old_self:
            out["optionalOldSelf"] = True
        return out


def _schema_extra(schema: dict[str, Any], cls: type[Any]) -> None:
    rules: tuple[CelRule, ...] = getattr(cls, "cel_rules", ())
    if rules:
        schema["x-kubernetes-validations"] = [rule.to_crd() for rule in rules]


class KubeModel(BaseModel):
    """Base of every wafleet.io model: snake_case in Python, camelCase on the wire.

    Unknown fields are errors, so offline checks and the CLI catch a typo
    (``intervalSecond``) that the API server would silently prune.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        json_schema_extra=_schema_extra,
    )

    cel_rules: ClassVar[tuple[CelRule, ...]] = ()

    @model_validator(mode="after")
    def _check_cel_rules(self) -> Self:
        for rule in type(self).cel_rules:
            if not rule.check(self):
                raise PydanticCustomError(
                    CEL_ERROR_TYPE,
                    rule.message,
                    {"field_path": rule.field_path or "", "rule": rule.rule},
                )
        return self

    def to_kube(self) -> dict[str, Any]:
        """The camelCase JSON form, without unset optionals (what a patch should carry)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


M = TypeVar("M", bound=BaseModel)


def defaulted(model: type[M], description: str) -> Any:
    """A nested object that is always present, defaulted to the model's own defaults written out.

    Not ``default: {}``: a real API server evaluates each CEL rule of the object
    against its default when the CRD is created, and a rule that reads a field
    of ``{}`` fails there with "no such key" (the CRD is rejected). The written-out
    default is exactly what pydantic's factory builds, so the server and the
    models fill in the same values.
    """
    return Field(
        default_factory=model,
        description=description,
        json_schema_extra={
            "default": model().model_dump(by_alias=True, mode="json", exclude_none=True)
        },
    )


def _unique(values: list[Any]) -> list[Any]:
    if len(set(values)) != len(values):
        raise ValueError("items must be unique")
    return values


# ---------------------------------------------------------------- constrained strings

E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
#: http(s) URLs without credentials: a `user:pass@` in the authority would be copied
#: into the runner's environment, logs and status wherever the URL appears.
HTTP_URL_PATTERN = r"^https?://[^\s/?#@]+([/?#][^\s]*)?$"
# The API server's own pattern for resource.Quantity, with the exponent an
# integer: resource.Quantity refuses "1e1.5", which the server's pattern lets by.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?[0-9]+))?$"
)
#: A container's request or limit: never negative (a pod with one is refused).
NONNEGATIVE_QUANTITY_PATTERN = QUANTITY_PATTERN.replace("^(\\+|-)?", "^\\+?", 1)
CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"

PhoneNumber = Annotated[str, StringConstraints(pattern=E164_PATTERN)]
ObjectName = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)
]
SecretKey = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=SECRET_KEY_PATTERN)
]
HttpUrl = Annotated[
    str,
    StringConstraints(max_length=2048, pattern=HTTP_URL_PATTERN),
    Field(json_schema_extra={"format": "uri"}),
]
ImageRef = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
#: A Kubernetes quantity: an integer or a string such as "500m" or "1Gi".
Quantity = (
    StrictInt
    | Annotated[str, StringConstraints(max_length=QUANTITY_MAX_LENGTH, pattern=QUANTITY_PATTERN)]
)
#: A quantity of a container's resources, which the API server refuses below zero.
ResourceQuantity = (
    Annotated[StrictInt, Field(ge=0)]
    | Annotated[
        str,
        StringConstraints(max_length=QUANTITY_MAX_LENGTH, pattern=NONNEGATIVE_QUANTITY_PATTERN),
    ]
)

#: Annotated metadata for a list with set semantics, used as a pair
#: ``Annotated[list[X], SetList, Unique]``: the API server rejects duplicates in
#: an ``x-kubernetes-list-type: set`` list, and pydantic does the same.
SetList = Field(json_schema_extra={"x-kubernetes-list-type": "set"})
Unique = AfterValidator(_unique)


# ---------------------------------------------------------------- references


class SecretRef(KubeModel):
    """A Secret in the resource's own namespace (cross-namespace reads would
    let any tenant point the operator at another tenant's credentials)."""

    name: ObjectName = Field(description="Name of the Secret in the same namespace.")


class LocalObjectReference(KubeModel):
    """Another wafleet object in the same namespace."""

    name: ObjectName = Field(description="Name of the object in the same namespace.")


# ---------------------------------------------------------------- resources


class ResourceList(KubeModel):
    """Only CPU and memory: the only resources wafleet's pods are sized by."""

    cpu: ResourceQuantity | None = Field(None, description='CPU, e.g. "500m" or 1.')
    memory: ResourceQuantity | None = Field(None, description='Memory, e.g. "512Mi".')


def _request_within_limit_rule(resource: str) -> CelRule:
    """requests.<resource> <= limits.<resource> when both are set: the API server refuses a
    pod (so the StatefulSet) otherwise, after the account's other children were applied."""
    request, limit = f"self.requests.{resource}", f"self.limits.{resource}"
    return CelRule(
        rule=(
            f"!has(self.requests) || !has(self.limits) || !has({request}) || !has({limit})"
            f" || !isQuantity(string({request})) || !isQuantity(string({limit}))"
            f" || quantity(string({request})).compareTo(quantity(string({limit}))) <= 0"
        ),
        message=f"requests.{resource} must not exceed limits.{resource}",
        check=lambda r: (
            not exceeds(getattr(r.requests, resource, None), getattr(r.limits, resource, None))
        ),
        field_path=f".requests.{resource}",
    )


class ResourceRequirements(KubeModel):
    """Overrides the operator's per-engine defaults (a browser needs far more
    memory than a protocol client)."""

    cel_rules = (_request_within_limit_rule("cpu"), _request_within_limit_rule("memory"))

    requests: ResourceList | None = Field(None, description="Minimum resources reserved.")
    limits: ResourceList | None = Field(None, description="Maximum resources allowed.")


# ---------------------------------------------------------------- conditions


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(KubeModel):
    """The metav1.Condition shape, so generic tooling (kubectl wait, Argo CD
    health checks) reads wafleet objects like any other."""

    type: str = Field(
        max_length=316,
        pattern=CONDITION_TYPE_PATTERN,
        description="Condition type in CamelCase, e.g. Ready.",
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str | None = Field(
        None,
        max_length=1024,
        pattern=CONDITION_REASON_PATTERN,
        description="Machine-readable CamelCase reason of the last transition.",
    )
    message: str | None = Field(
        None, max_length=32768, description="Human-readable details of the last transition."
    )
    last_transition_time: datetime | None = Field(None, description="When status last changed.")
    observed_generation: StrictInt | None = Field(
        None, ge=0, description="metadata.generation this condition was computed from."
    )


def conditions_field(description: str = "Current state, one entry per condition type.") -> Any:
    """``status.conditions`` as a list-map keyed by type, like metav1.Condition lists."""
    return Field(
        default_factory=list,
        max_length=32,
        description=description,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )


READY = "Ready"


def find_condition(conditions: list[Condition], type_: str) -> Condition | None:
    """The condition of the given type, if any."""
    return next((c for c in conditions if c.type == type_), None)


# ---------------------------------------------------------------- metadata


class ObjectMeta(BaseModel):
    """The part of metav1.ObjectMeta the operator reads; everything else is
    kept (extra="allow") so a round trip loses nothing."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    finalizers: list[str] = Field(default_factory=list)
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None


# ---------------------------------------------------------------- CRD metadata


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    type: str
    json_path: str
    description: str
    priority: int = 0
    format: str | None = None

    def to_crd(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "jsonPath": self.json_path,
            "description": self.description,
        }
        if self.format:
            out["format"] = self.format
        if self.priority:
            out["priority"] = self.priority
        return out


AGE_COLUMN = PrinterColumn(
    "Age", "date", ".metadata.creationTimestamp", "Time since the object was created."
)
READY_COLUMN = PrinterColumn(
    "Ready", "string", '.status.conditions[?(@.type=="Ready")].status', "Ready condition."
)


@dataclass(frozen=True)
class ResourceInfo:
    """Everything the CRD generator needs beyond the spec and status schemas."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    description: str
    spec_model: type[KubeModel]
    status_model: type[KubeModel]
    resource_model: type[KubeModel]
    printer_columns: tuple[PrinterColumn, ...]
    spec_description: str
    status_description: str
    categories: tuple[str, ...] = ("wafleet",)
    scope: str = "Namespaced"

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"
