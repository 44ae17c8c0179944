"""Request and response bodies of the API (pydantic; they also make the OpenAPI document).

Requests forbid unknown fields (422 naming the field). Ids in paths and bodies are
restricted to ``[A-Za-z0-9_-]`` so they can never address another blob.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    MISSING,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

from shared.api.names import (
    AttributeName,
    AudienceName,
    Description,
    DisplayName,
    ErasureValue,
    ExportPrefix,
    SegmentName,
)
from shared.models import (
    Actor,
    Connection,
    CreateAudience,
    DataMatching,
    Export,
    ExportSource,
    ExportValidation,
    Phase,
    RunOptions,
    RunStatus,
    Schedule,
    SyncMode,
    UsableBy,
)

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,100}$")

RecordId = Annotated[str, StringConstraints(pattern=ID_PATTERN.pattern)]
#: A Snapchat audience (segment) id: Snap's ids are digits; letters, ``_`` and ``-`` tolerated.
AudienceId = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_-]{1,64}$")
]
#: A Snapchat ad account id (Snap's are UUIDs); it goes into Snap URLs.
AdAccountId = Annotated[str, StringConstraints(pattern=ID_PATTERN.pattern)]


def _json_true(value: Any) -> Any:
    """Only a JSON ``true`` is consent (lax mode would take ``1`` and ``1.0``)."""
    if not isinstance(value, bool):
        raise PydanticCustomError("bool_type", "Input should be a valid boolean")
    return value


class _Request(BaseModel):
    """A request body: unknown fields are refused; booleans and integers are strict (a JSON
    ``true``, never ``"yes"`` or ``1``; a JSON integer, never ``"180"`` or ``180.0``)."""

    model_config = ConfigDict(extra="forbid")


class DataMatchingRequest(_Request):
    """Which column of the segment feeds each Snap schema (columns as in model.json)."""

    email: AttributeName
    phone: AttributeName | None = None
    mobile_ad_id: AttributeName | None = None


class CreateAudienceRequest(_Request):
    """Ask the app to create the Snapchat audience (a customer list, ``FIRST_PARTY``)."""

    name: AudienceName
    description: Description = ""
    retention_in_days: StrictInt = Field(
        default=9999, ge=1, le=9999, description="Days Snap keeps a member; 9999 is lifetime"
    )
    ad_account_id: AdAccountId | None = Field(
        default=None,
        description="The Snap ad account; may be left out when the connection sees only one",
    )


class ExportSourceRequest(_Request):
    """Where Customer Insights writes this export: container and the folder of model.json."""

    container: str = Field(min_length=3, max_length=63)
    prefix: ExportPrefix = ""


# -- connections ----------------------------------------------------------------------------
class ConnectionCreate(_Request):
    """``POST /api/connections``. ``privacy_consent`` must be ``true`` (recorded with who and
    when)."""

    display_name: DisplayName
    usable_by: UsableBy = UsableBy.ADMINS
    privacy_consent: Annotated[Literal[True], BeforeValidator(_json_true)] = Field(
        description="Must be true: the administrator agrees to send data to Snapchat."
    )


class ConnectionPatch(_Request):
    """``PATCH /api/connections/{id}``: the fields to change (left out: unchanged; ``null``
    is not a value of either)."""

    display_name: DisplayName | MISSING = MISSING
    usable_by: UsableBy | MISSING = MISSING


class ConnectionView(BaseModel):
    """A connection as administrators see it. ``status`` is ``ready`` or names what is
    missing (``missing`` lists it: privacy_consent, snapchat_sign_in, export_user)."""

    id: str
    display_name: str
    type: Literal["snapchat"] = "snapchat"
    usable_by: UsableBy
    status: str
    missing: list[str]
    privacy_consent: Actor | None
    signed_in: Actor | None
    snapchat_member: dict[str, Any] | None
    export_user: Actor | None
    created: Actor
    updated_at: str

    @classmethod
    def of(cls, connection: Connection) -> ConnectionView:
        return cls(
            **connection.model_dump(exclude={"type"}),
            status=connection.status,
            missing=connection.missing,
        )


class ConnectionSummary(BaseModel):
    """A connection as contributors see it: name and type only."""

    id: str
    display_name: str
    type: Literal["snapchat"] = "snapchat"

    @classmethod
    def of(cls, connection: Connection) -> ConnectionSummary:
        return cls(id=connection.id, display_name=connection.display_name)


class ConnectionList(BaseModel):
    connections: list[ConnectionView | ConnectionSummary]


class ConnectionDeleted(BaseModel):
    """What ``DELETE /api/connections/{id}`` did."""

    id: str
    deleted: bool = True
    exports_deactivated: list[str]


# -- exports ----------------------------------------------------------------------------------
class ExportCreate(_Request):
    """``POST /api/exports``. Give exactly one of ``audience_id`` and ``create_audience``.

    ``source.prefix`` is the Customer Insights export folder (the one holding model.json);
    without ``source`` the app settings ``EXPORTS_CONTAINER``/``EXPORTS_PREFIX`` apply.
    """

    display_name: DisplayName
    connection_id: RecordId
    audience_id: AudienceId | None = None
    create_audience: CreateAudienceRequest | None = None
    data_matching: DataMatchingRequest
    segments: list[SegmentName] = Field(min_length=1, max_length=100)
    schedule: Schedule = Schedule.WITH_REFRESH
    sync_mode: SyncMode = SyncMode.MIRROR
    source: ExportSourceRequest | None = None


class ExportPatch(_Request):
    """``PATCH /api/exports/{id}``: the fields to change (same rules as creating; a field
    left out is unchanged).

    ``audience_id`` replaces ``create_audience`` and the other way round; ``source: null``
    returns to the app settings (the only field that takes ``null``). Run state is never
    changed here.
    """

    display_name: DisplayName | MISSING = MISSING
    connection_id: RecordId | MISSING = MISSING
    audience_id: AudienceId | MISSING = MISSING
    create_audience: CreateAudienceRequest | MISSING = MISSING
    data_matching: DataMatchingRequest | MISSING = MISSING
    segments: Annotated[list[SegmentName], Field(min_length=1, max_length=100)] | MISSING = MISSING
    schedule: Schedule | MISSING = MISSING
    sync_mode: SyncMode | MISSING = MISSING
    source: ExportSourceRequest | MISSING | None = MISSING


class SnapshotSummary(BaseModel):
    """The hashes last sent: which run wrote them and how many per schema."""

    run_id: str
    counts: dict[str, int]


class ExportView(BaseModel):
    """An export: configuration, ``status`` (``inactive`` after its connection was deleted)
    and the state of its runs."""

    id: str
    display_name: str
    connection_id: str
    audience_id: str | None
    create_audience: CreateAudience | None
    data_matching: DataMatching
    segments: list[str]
    schedule: Schedule
    sync_mode: SyncMode
    source: ExportSource | None
    status: Literal["active", "inactive"]
    inactive_reason: str | None
    validation: ExportValidation | None = Field(
        description="What saving checked: passed, or incomplete with warnings saying what "
        "could not be checked (the export folder or Snap could not be reached)"
    )
    created: Actor
    updated_at: str
    active_run_id: str | None
    last_run: dict[str, Any] | None
    last_exported_version: str | None
    audience: dict[str, Any] | None
    snapshot: SnapshotSummary | None

    @classmethod
    def of(cls, export: Export) -> ExportView:
        snapshot = export.snapshot
        return cls(
            **export.model_dump(exclude={"snapshot"}),
            snapshot=SnapshotSummary(run_id=snapshot.run_id, counts=snapshot.counts)
            if snapshot
            else None,
        )


class ExportList(BaseModel):
    exports: list[ExportView]


# -- runs --------------------------------------------------------------------------------------
class RunStarted(BaseModel):
    """A run was queued; poll ``status_url``."""

    run_id: str
    status_url: str


class RunsRequest(_Request):
    """``POST /api/runs``: exactly one of ``export_ids`` and ``all: true`` ("Run all": every
    active export scheduled ``with_refresh`` that the caller may run)."""

    export_ids: list[RecordId] | None = Field(default=None, min_length=1, max_length=500)
    all: StrictBool | None = None


class RunRequest(_Request):
    """``POST /api/exports/{id}/runs`` body: how to run (every field a JSON boolean, or
    ``"clear_first"`` for ``full_refresh``)."""

    full_refresh: StrictBool | Literal["clear_first"] = Field(
        default=False,
        description='true: resend everything; "clear_first": empty the audience first',
    )
    allow_mass_removal: StrictBool = Field(
        default=False, description="Let the run remove more than the mass-removal threshold"
    )
    dry_run: StrictBool = Field(default=False, description="Count what would be sent; send nothing")

    def options(self) -> RunOptions:
        """The run's options as stored on the run."""
        return RunOptions(**self.model_dump())


class RunStartedFor(RunStarted):
    export_id: str


class RunRefusedError(BaseModel):
    code: str
    message: str
    run_id: str | None = None


class RunRefused(BaseModel):
    """One export of ``POST /api/runs`` that did not start, and why."""

    export_id: str
    error: RunRefusedError


class RunsStarted(BaseModel):
    runs: list[RunStartedFor | RunRefused]


class RunHistory(BaseModel):
    """Runs of an export, newest first; pass ``next_cursor`` as ``cursor`` for more."""

    runs: list[dict[str, Any]]
    next_cursor: str | None


class Progress(BaseModel):
    """Items of a phase done, of its total."""

    done: int
    total: int


class RunProgress(BaseModel):
    """How far a run is (``GET /api/runs/{id}/progress``), cheap to poll.

    ``phase`` is the run's phase (``plan``, ``read``, ``diff``, ``upload``, ``done``);
    ``step`` the one at work, ``clear`` while a ``clear_first`` run empties the audience.
    ``parts_read`` (CSV parts), ``partitions_diffed`` (hash partitions) and ``batches_sent``
    (Snap requests, a batch given up on included) are ``null`` until counted, and
    ``batches_sent`` for a dry run.
    """

    run_id: str
    export_id: str
    status: RunStatus
    phase: Phase
    step: Phase
    parts_read: Progress | None
    partitions_diffed: Progress | None
    batches_sent: Progress | None


# -- erasures ----------------------------------------------------------------------------------
class ErasureRequest(_Request):
    """``POST /api/erasures``: at least one raw value; each is hashed at once, never stored."""

    email: ErasureValue | None = None
    phone: ErasureValue | None = None
    mobile_ad_id: ErasureValue | None = None
