"""Records this app stores: connections, exports and runs (Customer Insights' terms).

* A **connection** is an administrator's Snapchat sign-in plus consent and an export user;
  it may be shared with contributors (Customer Insights "connections" doc).
* An **export** sends one or more segments of unified profiles to one Snapchat audience
  (a Snap *segment*), matching profile fields to Snap schemas ("data matching").
* A **run** is one execution of an export: scheduled (after each refresh) or on demand.

All times are UTC ISO-8601 strings. Records never hold raw identifiers or tokens.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def utc_now() -> str:
    """Now, as stored: ISO-8601 UTC with a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Actor(BaseModel):
    """Who did something, and when (from the caller's Entra ID principal)."""

    id: str
    name: str | None = None
    at: str = Field(default_factory=utc_now)


class UsableBy(enum.StrEnum):
    ADMINS = "admins"
    ADMINS_AND_CONTRIBUTORS = "admins_and_contributors"


class Connection(BaseModel):
    """A Snapchat connection. ``status`` is derived: ``ready`` or ``missing_<what>``."""

    model_config = ConfigDict(extra="ignore")

    id: str
    display_name: str
    type: Literal["snapchat"] = "snapchat"
    usable_by: UsableBy = UsableBy.ADMINS
    privacy_consent: Actor | None = None
    signed_in: Actor | None = None
    snapchat_member: dict[str, Any] | None = None
    export_user: Actor | None = None
    created: Actor
    updated_at: str = Field(default_factory=utc_now)

    @property
    def missing(self) -> list[str]:
        """What the connection still needs before exports may use it."""
        missing = []
        if self.privacy_consent is None:
            missing.append("privacy_consent")
        if self.signed_in is None:
            missing.append("snapchat_sign_in")
        if self.export_user is None:
            missing.append("export_user")
        return missing

    @property
    def status(self) -> str:
        missing = self.missing
        return "ready" if not missing else "missing_" + "_and_".join(missing)


class Schedule(enum.StrEnum):
    WITH_REFRESH = "with_refresh"
    MANUAL = "manual"


class SyncMode(enum.StrEnum):
    MIRROR = "mirror"
    APPEND = "append"


class DataMatching(BaseModel):
    """Which profile field feeds each Snap schema. ``email`` is required."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=1)
    phone: str | None = Field(default=None, min_length=1)
    mobile_ad_id: str | None = Field(default=None, min_length=1)


class CreateAudience(BaseModel):
    """Ask the app to create the Snapchat audience (a FIRST_PARTY segment)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=375)
    description: str = ""
    retention_in_days: int = Field(default=9999, ge=1, le=9999)
    ad_account_id: str | None = None


class ExportSource(BaseModel):
    """Where Customer Insights writes this export: container and the folder of model.json."""

    model_config = ConfigDict(extra="forbid")

    container: str = Field(min_length=3, max_length=63)
    prefix: str = ""


class Snapshot(BaseModel):
    """The hashes last sent successfully to ``audience_id``: written by run ``run_id``,
    partitioned by ``bits`` of hash prefix. A snapshot of another audience is ignored."""

    run_id: str
    bits: int
    audience_id: str | None = None
    counts: dict[str, int] = Field(default_factory=dict)


class Unsettled(BaseModel):
    """A run that failed after it had started sending: the audience may hold part of it.

    ``snapshot`` points at the hashes that run was moving the audience to (its kept files);
    ``cleared`` is true when it asked Snap to empty the audience first (``clear_first``).
    Until a run succeeds, the next diff treats the audience as holding at least the hashes
    in every such target and the last snapshot, and at most those in any of them, so the
    next run repairs whatever the failed one sent (Snap's add and remove are idempotent).
    """

    snapshot: Snapshot
    cleared: bool = False


class ExportValidation(BaseModel):
    """What saving the export checked (:mod:`shared.api.export_checks`), and when.

    ``passed``: the export folder's model.json holds the segments and their mapped columns,
    and Snap shows the audience (or the ad account to create it in) to the connection.
    ``incomplete``: the export was saved although the export folder or Snap could not be
    reached, or a part cannot be checked before a run; ``warnings`` say which and why.
    """

    status: Literal["passed", "incomplete"]
    checked_at: str = Field(default_factory=utc_now)
    warnings: list[str] = Field(default_factory=list)


class Export(BaseModel):
    """An export: connection, audience, data matching, segments, schedule, and run state."""

    model_config = ConfigDict(extra="ignore")

    id: str
    display_name: str
    connection_id: str
    audience_id: str | None = None
    create_audience: CreateAudience | None = None
    data_matching: DataMatching
    segments: list[str]
    schedule: Schedule = Schedule.WITH_REFRESH
    sync_mode: SyncMode = SyncMode.MIRROR
    source: ExportSource | None = None
    status: Literal["active", "inactive"] = "active"
    inactive_reason: str | None = None
    #: What the last save checked (``None`` for exports saved before saves were checked).
    validation: ExportValidation | None = None
    created: Actor
    updated_at: str = Field(default_factory=utc_now)
    # Run state (written by runs only).
    active_run_id: str | None = None
    #: The run creating the audience: set before Snap's create, cleared when the id is
    #: stored, so a later attempt can adopt what a dead one created.
    audience_creation: str | None = None
    snapshot: Snapshot | None = None
    unsettled: list[Unsettled] = Field(default_factory=list)
    last_exported_version: str | None = None
    last_source: dict[str, Any] | None = None
    last_run: dict[str, Any] | None = None
    audience: dict[str, Any] | None = None


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def terminal(self) -> bool:
        return self in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.SKIPPED)


class Phase(enum.StrEnum):
    """The phases of a run, in order; stored as ``Run.phase`` (plain strings in JSON).

    ``Run.phase`` moves ``plan`` -> ``read`` -> ``diff`` -> ``upload`` -> ``done`` (or stays
    where it was when the run failed). ``clear`` names the step that empties the audience for
    a ``clear_first`` run (its queue message, completion records and claim); the run's phase
    is ``upload`` meanwhile. See :mod:`shared.pipeline`.
    """

    PLAN = "plan"
    READ = "read"
    DIFF = "diff"
    CLEAR = "clear"
    UPLOAD = "upload"
    DONE = "done"


class RunOptions(BaseModel):
    """How a run was asked for (``POST /api/exports/{id}/runs`` body)."""

    model_config = ConfigDict(extra="forbid")

    full_refresh: bool | Literal["clear_first"] = False
    allow_mass_removal: bool = False
    dry_run: bool = False


class RunError(BaseModel):
    """Why a run failed: a stable ``code`` and a message without personal data."""

    code: str
    message: str


class Run(BaseModel):
    """One run of an export. ``counts`` keys are documented in the README ("Run report")."""

    model_config = ConfigDict(extra="ignore")

    id: str
    export_id: str
    trigger: Literal["schedule", "on_demand"]
    options: RunOptions = Field(default_factory=RunOptions)
    requested_by: str | None = None
    status: RunStatus = RunStatus.QUEUED
    phase: Phase = Phase.PLAN
    created_at: str = Field(default_factory=utc_now)
    started_at: str | None = None
    ended_at: str | None = None
    audience_id: str | None = None
    sync_mode: SyncMode = SyncMode.MIRROR
    source: list[dict[str, Any]] = Field(default_factory=list)
    source_version: str | None = None
    parts: list[dict[str, Any]] = Field(default_factory=list)
    bits: int = 0
    base_snapshot: Snapshot | None = None
    base_unsettled: list[Unsettled] = Field(default_factory=list)
    #: True once the run has passed its safety rails and queued requests to Snap: a failure
    #: after that leaves the audience unsettled (see :class:`Unsettled`).
    sending: bool = False
    counts: dict[str, Any] = Field(default_factory=dict)
    audience: dict[str, Any] | None = None
    warnings: list[str] = Field(default_factory=list)
    error: RunError | None = None
    last_error: str | None = None

    @property
    def clears_first(self) -> bool:
        """True when the run empties the audience before adding: asked for (``clear_first``),
        or owed by an earlier run whose ``all_users`` removal may still be landing."""
        return self.options.full_refresh == "clear_first" or any(
            u.cleared for u in self.base_unsettled
        )
