"""The HTTP shapes of the REST API (pydantic); conversions from core types live here."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from trilat.kinds import SCHEMAS

Kind = Literal[tuple(sorted(SCHEMAS))]  # type: ignore[valid-type]
TOPIC_PATTERN = r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$"
NATION_PATTERN = r"^[A-Z]{3,4}$"


class ItemIn(BaseModel):
    """A new item to originate on this node."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "missile_event",
                    "label": "SECRET//REL TO USA, JPN, KOR",
                    "topics": ["dprk.missile.warning"],
                    "body": {
                        "launch_time": "2023-07-12T01:00:00Z",
                        "launch_point": {"lat": 39.03, "lon": 125.75},
                        "source_sensor": "SBIRS",
                        "impact_point": {"lat": 40.9, "lon": 137.5},
                    },
                },
                {
                    "kind": "bulletin",
                    "label": "UNCLASSIFIED",
                    "topics": ["public"],
                    "body": {"title": "Exercise", "text": "Trilateral exercise ends."},
                },
            ]
        },
    )

    kind: Kind = Field(description="One of the item kinds of SPEC §5.")  # type: ignore[valid-type]
    label: str = Field(
        min_length=1, max_length=512, description="Banner or portion, e.g. SECRET//REL TO USA, JPN"
    )
    topics: list[str] = Field(min_length=1, max_length=64)
    body: dict[str, Any] = Field(description="Kind-specific body, validated per kind.")
    recipients: list[str] = Field(default_factory=list, max_length=64)
    refs: list[str] = Field(default_factory=list, max_length=256)
    supersedes: str | None = None


class ConsentIn(BaseModel):
    """The nations the originator consents to onward release to."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"to": ["KOR"]}]})

    to: list[str] = Field(min_length=1, max_length=64)


MAX_ROLLUP_LABELS = 2000


class RollupIn(BaseModel):
    """Labels (banners or portion marks) to roll up into one banner."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"labels": ["SECRET//REL TO USA, JPN, KOR", "(C//REL TO USA, KOR)"]}]
        },
    )

    labels: list[Annotated[str, Field(max_length=512)]] = Field(
        min_length=1, max_length=MAX_ROLLUP_LABELS
    )


class RollupOut(BaseModel):
    """The roll-up (SPEC §2) as a banner line and as a portion mark."""

    banner: str
    portion: str


class OriginatorOut(BaseModel):
    node: str
    nation: str


class EnvelopeOut(BaseModel):
    """A signed envelope document (SPEC §5): ``sig`` is Ed25519 over the rest, base64url."""

    id: str
    kind: str
    originator: OriginatorOut
    created: str
    label: str
    topics: list[str]
    recipients: list[str]
    refs: list[str]
    supersedes: str | None
    body: dict[str, Any]
    sig: str


class ItemPage(BaseModel):
    """A page of visible items and the opaque cursor to continue after them."""

    items: list[EnvelopeOut]
    next: str = Field(description="Pass as `after` to continue; an empty page is the head.")
    label_national: dict[str, str] | None = Field(
        None,
        description="Item id → that item's banner in the reader's national terms (SPEC §2), "
        "from the marking table of an agreement in force between the label owner and the "
        "reader's nation; items without such a table are left out, and so is the member "
        "when none has one. Not part of the signed envelopes.",
    )


class Health(BaseModel):
    status: Literal["ok"]
    nation: str
    node: str
    components: dict[str, Any] | None = None  # counters of registered providers (ingest…)


class DocumentOut(BaseModel):
    sha256: str
    size: int


class InclusionProofOut(BaseModel):
    leaf_index: int
    tree_size: int
    leaf_hash: str
    root: str
    proof: list[str]


class ProblemOut(BaseModel):
    """RFC 9457 problem details: every error has this shape."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
