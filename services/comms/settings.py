"""The comms service's settings (environment prefix ``COMMS_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings

__all__ = ["CommsSettings"]

HERE = Path(__file__).parent


class CommsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="COMMS_", extra="ignore")

    name: str = "comms"
    catalog: str = str(HERE / "catalog.yaml")
    # The templates the running version ships; a deploy writes files here.
    templates: str = str(HERE / "templates")
    # On PostgreSQL the service connects as this role (RLS binds it; see participants.py).
    app_role: str = "comms_app"
    tenants: list[str] = Field(default_factory=lambda: ["clinic-a", "clinic-b"])
    ops_token: str = "local-operator"  # operator endpoints (/ops/...) need it in x-ops-token
    # Provider base URLs; empty: the fake providers run beside the service (embedded).
    sms_primary_url: str = ""
    sms_secondary_url: str = ""
    push_url: str = ""
    video_url: str = ""
    # Fallback threads per patient per day before later failures reuse the last one
    # (comms.fm.14: the per-patient breaker's threshold, a catalog choice).
    threads_per_day: int = 1
    # comms.fm.17: the seed's maxUploadSize, set here (a catalog choice): 10 MiB.
    max_upload_size: int = 10 * 1024 * 1024
    upload_url_secret: str = "comms-local-upload-url-secret-0000"
    # comms.fm.5: the read replica (PostgreSQL: a streaming replica's URL; empty on the
    # embedded store: the same SQLite file through a second connection).
    replica: str = ""
    # comms.fm.8: the AV scanner (empty: the fake one), when uploads are refused (N, a
    # catalog choice: 2000 scans waiting), when a second scanner worker starts (the
    # backlog rule's condition: above 1000 for 15 min) and how often the backlog is read.
    scanner_url: str = ""
    scan_refuse_above: int = 2000
    scan_scale_above: int = 1000
    scan_scale_after: float = 900.0
    scan_max_workers: int = 2
    scan_watch_every: float = 30.0
    # How often the relay samples its backlog: the lag rule's 30 s is seen within 5 s.
    outbox_sample_every: float = 5.0
    # Live SLIs of the error budget (comms.budget.1): a dispatch sent within this many
    # seconds of being accepted is within the send-latency SLO (a catalog choice; the
    # seed gives no number); the counts go to the budget as one batch a minute.
    sli_latency_objective: float = 60.0
    sli_flush_every: float = 60.0
    poison_attempts: int = 3  # comms.fm.9: failures before a poison outbox row goes to the DLQ
    scheduling_inbox: bool = True  # dedupe scheduling events by message id (comms.fm.18)
    erasure_scan_every: float = 3600.0  # the reconciliation job's period (comms.fm.15)
    idempotency_prefix: str = "comms:idem:"  # Redis keys of the API's idempotency records
    log_scan_every: float = 900.0  # the PII scan of the service's logs (comms.fm.11)
    receipt_workers: list[str] = Field(default_factory=lambda: ["worker-a", "worker-b"])
    join_token_lifetime: float = 4 * 3600.0  # a session's join token outlives the session
    # How long a dispatch waits before it is tried again when no provider took it, or when
    # a provider's answer is unknown and its status could not be read.
    redispatch_after: float = 60.0
    send_concurrency: int = 32  # dispatches in flight at once in the worker
    # Push delivery feedback (comms.fm.2): how often receipts are read, and how long a
    # dispatch may wait for one before the feed is refreshed and it is marked unknown.
    # Email over SMTP (smtp://host:port; empty: a fake MTA on 127.0.0.1 in this process).
    smtp_url: str = ""
    email_sender: str = "noreply@comms.local"
    # Bounce tracking (comms.fm.3): the seed's 5 % over a window it leaves open.
    email_bounce_window: float = 3600.0
    email_min_sends: int = 100
    email_throttle_every: float = 30.0
    email_probe: int = 10
    # Receipt callbacks (comms.fm.13): each provider's limit, in callbacks per second.
    receipt_rate: float = 20.0
    receipt_burst: int = 20
    feedback_poll: float = 30.0
    feedback_stale_after: float = 600.0
