"""Process settings, read once from ``HEALTHSCORE_*`` environment variables.

Everything that differs between a laptop and production lives here; everything that
describes *how accounts are scored* lives in the scorecard YAML instead.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_RATE_LIMIT = "30000/minute"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEALTHSCORE_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./healthscore.db",
        description="SQLAlchemy URL; sqlite:///path (embedded default) or postgresql+psycopg://…",
    )
    database_pool_size: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="PostgreSQL connections each API process keeps open. Requests beyond "
        "it open extra connections that are closed after use, so it should cover the "
        "requests a process serves at once (its thread pool holds 40).",
    )
    scorecard: str = Field(
        default="default",
        description="Name of a bundled scorecard (default, seed000) or a path to a YAML file.",
    )
    playbooks: str = Field(
        default="default",
        description="Playbook rules: `default` (bundled) or a path to a YAML file.",
    )
    queue_path: str | None = Field(
        default=None,
        description="Embedded job queue (SQLite file) when no Redis is configured; default: "
        "next to the SQLite database, else ./healthscore-queue.db.",
    )
    queue_name: str = Field(
        default="healthscore", description="Queue name (several deployments on one Redis)."
    )
    delivery_claim_seconds: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="How long a worker owns a delivery it is sending; after that, another "
        "worker may retry it (a worker that died mid-send loses nothing).",
    )
    delivery_retry_seconds: float = Field(
        default=2.0,
        ge=0.1,
        le=600,
        description="Wait before a failed delivery's first retry; doubled on each further "
        "attempt, at most 10 minutes.",
    )
    allow_private_webhook_targets: bool = Field(
        default=False,
        description="Let playbook webhooks reach private/loopback addresses (development "
        "only; off, they are refused as a server-side request forgery guard).",
    )
    idempotency_claim_seconds: int = Field(
        default=30,
        ge=1,
        le=3600,
        description="How long a request sent with an `Idempotency-Key` owns its key; a "
        "retry meanwhile gets 409 with Retry-After, and the key of a request whose process "
        "died is free again after this.",
    )
    shard_claim_seconds: int = Field(
        default=300,
        ge=5,
        le=86400,
        description="How long a worker owns a rescore shard; a shard of a dead worker is "
        "retried after this.",
    )
    embedded_worker: bool | None = Field(
        default=None,
        description="Run the job worker inside `serve` (default: yes without Redis).",
    )
    ingest_ack: Literal["applied", "journaled"] = Field(
        default="journaled",
        description=(
            "When Segment calls are answered. `journaled`: after the checked events are"
            " durably journaled (committed); the worker (`healthscore worker`, or the one"
            " embedded in `serve`) applies the journal in bulk, normally within a second"
            " (several times the throughput; requests with group/identify/alias are always"
            " applied first). `applied`: after their events are stored in the tables"
            " (read-your-writes, for callers that read what they sent at once)."
        ),
    )
    journal_appliers: int = Field(
        default=2,
        ge=1,
        le=16,
        description=(
            "Journaled ingest on PostgreSQL: transactions a worker's journal apply runs at"
            " once (each takes its own entries, `SKIP LOCKED`), so the database applies one"
            " group while the worker prepares the next. SQLite applies one at a time."
        ),
    )
    ingest_max_backlog_events: int | None = Field(
        default=1_000_000,
        ge=1,
        le=1_000_000_000,
        description=(
            "Journaled ingest only: while the journal holds this many events not yet"
            " applied (the workers are down or cannot keep up), Segment calls get 503"
            " `ingest_backlog` with Retry-After instead of growing the backlog; SDKs retry"
            " them later. Empty: no limit."
        ),
    )
    rescore_delay_seconds: float = Field(
        default=0.5,
        ge=0,
        le=300,
        description="Batching window of near-real-time rescoring: new data is rescored"
        " this long after it lands, with everything else that landed meanwhile (under"
        " steady ingest at most one run per window and per worker, and at most a third of a"
        " worker thread's time). Shorter: fresher scores, more rescoring CPU while data"
        " streams in.",
    )
    full_rescore_cron: str = Field(
        default="0 2 * * *", description="Crontab (UTC) of the periodic full rescore."
    )
    raw_event_retention_days: int | None = Field(
        default=None,
        ge=1,
        le=36500,
        description="Drop raw product events older than this many days (whole monthly "
        "partitions on PostgreSQL) in the nightly maintenance; daily roll-ups are kept, so "
        "scores do not change. Must cover the scorecard's longest window. Empty: keep all.",
    )
    maintenance_cron: str = Field(
        default="15 * * * *",
        description="Crontab (UTC) of the worker's database maintenance (docs/maintenance.md): "
        "partitions ahead and retention, then VACUUM (ANALYZE) of the tables with many dead "
        "or new rows on PostgreSQL (whether autovacuum is on or off), PRAGMA optimize on "
        "SQLite. One worker at a time. Empty: never (run `healthscore maintain` yourself).",
    )
    vacuum_threshold_rows: int = Field(
        default=1000,
        ge=0,
        description="Maintenance vacuums a table once its dead (or newly inserted) rows exceed "
        "this plus HEALTHSCORE_VACUUM_SCALE_FACTOR x its live rows, as autovacuum would.",
    )
    vacuum_scale_factor: float = Field(
        default=0.1,
        ge=0,
        le=10,
        description="Share of a table's live rows that may be dead before maintenance "
        "vacuums it (see HEALTHSCORE_VACUUM_THRESHOLD_ROWS).",
    )
    cache_ttl_seconds: int = Field(
        default=60,
        ge=1,
        le=86400,
        description="Lifetime of cached read-API answers (Redis), and how long an API "
        "process trusts a checked key without `keys revoke` telling it otherwise.",
    )
    redis_url: str | None = Field(default=None, description="redis://… for cache/queue.")
    smtp_host: str | None = Field(
        default=None, description="SMTP server for playbooks' `email` actions; unset: skipped."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP server port.")
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="`starttls` (port 587), `tls` (implicit TLS, port 465) or `none`.",
    )
    smtp_username: str | None = Field(default=None, description="SMTP login, if it needs one.")
    smtp_password: str | None = Field(default=None, description="SMTP password.")
    smtp_from: str = Field(
        default="healthscore@localhost", description="Sender address of playbook emails."
    )
    sentiment_valid_days: int = Field(
        default=45,
        ge=1,
        le=365,
        description="Days a CSM sentiment entry counts for unless recorded with its own "
        "`validDays`; after that the dashboard shows it as stale and scoring ignores it.",
    )
    override_max_days: int = Field(
        default=365,
        ge=1,
        le=3650,
        description="Longest an admin's manual score override may last before it expires.",
    )
    rate_limit: str | None = Field(
        default=DEFAULT_RATE_LIMIT,
        description="Requests allowed per API key, e.g. `100/second;5000/minute`; over it "
        "the API answers 429 with `Retry-After`. Counted in Redis when configured (shared "
        "by all API processes), else in memory. Empty: no limit.",
    )

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit_parses(cls, value: str | None) -> str | None:
        # The default is known to parse (tests/api/test_rate_limits.py): every command reads
        # the settings, and only the API needs the rate-limit library loaded.
        if value and value != DEFAULT_RATE_LIMIT:
            from limits import parse_many

            try:
                parse_many(value)
            except ValueError as error:
                raise ValueError(
                    f"{value!r} is not a rate limit; write e.g. '1000/second' or "
                    "'1000/second;20000/minute'"
                ) from error
        return value or None

    log_format: Literal["text", "json"] = Field(
        default="text",
        description="`json`: one JSON object per log line, with the request id (production).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level of `serve`, `worker` and the CLI."
    )
    stripe_webhook_secret: str | None = Field(
        default=None, description="Stripe endpoint secret (whsec_…) for /webhooks/stripe."
    )
    max_request_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body accepted (413 above)."
    )
    migrate_on_start: bool = Field(
        default=True, description="Run migrations when `serve` starts (off: run `init`)."
    )
    session_secret: str | None = Field(
        default=None,
        description="Signs dashboard session cookies; random per process when unset "
        "(set it when several server processes run).",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def scorecard_location(value: str) -> Path | str:
    """A scorecard setting is either a bundled name or a file path."""
    path = Path(value)
    return path if path.suffix in {".yaml", ".yml"} or path.exists() else value
