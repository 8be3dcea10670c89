"""Settings, read once from the environment; every knob has a sensible embedded default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import platformdirs

from workbench.errors import ConfigError

APP_NAME = "agent-workbench"


def default_home() -> Path:
    """The per-user data folder used when ``WORKBENCH_HOME`` is not set."""
    return platformdirs.user_data_path(APP_NAME)


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from exc
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value


def _keep(env: dict[str, str], name: str) -> int | None:
    """A retention bound: a positive whole number, or None (unset, empty, ``0`` or ``off``: keep all)."""
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "off", "none"):
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number (or off), got {env.get(name)!r}") from exc
    if value < 0:
        raise ConfigError(f"{name} must be positive (or off), got {env.get(name)!r}")
    return value


def _url(env: dict[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    raw = env.get(name) or None
    if raw is not None and not raw.startswith(schemes):
        raise ConfigError(
            f"{name} must start with {' or '.join(schemes)}, got scheme {raw.split(':', 1)[0]!r}"
        )
    return raw


def _switch(env: dict[str, str], name: str) -> bool:
    """An on/off setting (``on``/``off``, ``1``/``0``, ``true``/``false``, ``yes``/``no``); off when unset."""
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "off", "0", "false", "no"):
        return False
    if raw in ("on", "1", "true", "yes"):
        return True
    raise ConfigError(f"{name} must be on or off, got {env.get(name)!r}")


def _clamd_url(env: dict[str, str]) -> str:
    """``WORKBENCH_CLAMAV_URL``, checked (``unix:///path`` or ``tcp://host:port``)."""
    from workbench.files.clamd import ClamdAddress

    raw = (env.get("WORKBENCH_CLAMAV_URL") or "").strip() or "unix:///run/clamav/clamd.ctl"
    try:
        return str(ClamdAddress.parse(raw))
    except ValueError as exc:
        raise ConfigError(f"WORKBENCH_CLAMAV_URL: {exc}") from None


def _mail(env: dict[str, str]) -> tuple[str | None, str | None]:
    """``WORKBENCH_SMTP_URL`` and ``WORKBENCH_MAIL_FROM``, checked (a sender is required with a server)."""
    from workbench.notify.smtp_config import SmtpConfig, check_mail_from

    smtp_url = env.get("WORKBENCH_SMTP_URL") or None
    mail_from = env.get("WORKBENCH_MAIL_FROM") or None
    if smtp_url is not None:
        SmtpConfig.from_url(smtp_url, "WORKBENCH_SMTP_URL")
        if mail_from is None:
            raise ConfigError(
                "WORKBENCH_MAIL_FROM must be set when WORKBENCH_SMTP_URL is (the sender address)"
            )
    if mail_from is not None:
        mail_from = check_mail_from(mail_from, "WORKBENCH_MAIL_FROM")
    return smtp_url, mail_from


@dataclass(frozen=True, slots=True)
class Settings:
    """Configuration of one Workbench process.

    Attributes:
        home: data folder (``WORKBENCH_HOME``): embedded database, keys, logs.
        database_url: ``DATABASE_URL``; None means the embedded PostgreSQL under ``home``.
        node_timeout: default wall-clock limit of one node execution (``WORKBENCH_NODE_TIMEOUT``).
        execution_concurrency: nodes of one execution running at once (``WORKBENCH_EXECUTION_CONCURRENCY``).
        process_concurrency: nodes of all executions of this process running at once
            (``WORKBENCH_PROCESS_CONCURRENCY``).
        max_node_executions: node executions one run may make before it is failed as runaway
            (``WORKBENCH_MAX_NODE_EXECUTIONS``).
        flush_interval: how long node results may wait before being written (``WORKBENCH_FLUSH_INTERVAL``).
        pool_size: asyncpg pool size (``WORKBENCH_DB_POOL_SIZE``).
        executor_concurrency: executions one executor process runs at once
            (``WORKBENCH_EXECUTOR_CONCURRENCY``; its queue prefetch).
        amqp_url: ``AMQP_URL``: RabbitMQ for the execution queue; None means in-process.
        redis_url: ``REDIS_URL``: Redis for the event bus and shared state; None means in-process.
        key_prefix: ``WORKBENCH_KEY_PREFIX``: prefix of every Redis key and channel (one per deployment
            or test run, so they never see each other's data).
        http_allow_private: let blocks' outbound HTTP reach private, loopback and link-local addresses
            (``WORKBENCH_HTTP_ALLOW_PRIVATE=1``); off by default (SSRF guard, see ``workbench.net``).
        http_allow: hosts and CIDR networks blocks may reach even though they are private
            (``WORKBENCH_HTTP_ALLOW``, comma-separated, e.g. ``10.1.0.0/16,gitlab.internal``).
        http_max_bytes: largest response body a block may read (``WORKBENCH_HTTP_MAX_BYTES``).
        http_timeout: wall-clock limit of one outbound request, redirects and body included
            (``WORKBENCH_HTTP_TIMEOUT``).
        sandbox_timeout: seconds one bounded job (template, expression, regular expression, XML) may
            run in the sandbox process pool before its worker is killed (``WORKBENCH_SANDBOX_TIMEOUT``).
        sandbox_document_timeout: seconds reading one document (PDF, HTML, Markdown) may take
            (``WORKBENCH_SANDBOX_DOCUMENT_TIMEOUT``).
        sandbox_memory_mb: megabytes one sandboxed job may allocate (``WORKBENCH_SANDBOX_MEMORY_MB``).
        sandbox_workers: worker processes of the sandbox pool (``WORKBENCH_SANDBOX_WORKERS``).
        max_subgraph_depth: how deep sub-graph runs (agent executor blocks) may nest below a run
            (``WORKBENCH_MAX_SUBGRAPH_DEPTH``).
        max_child_runs: sub-graph runs one top-level execution may start in all, at every depth,
            across restarts (``WORKBENCH_MAX_CHILD_RUNS``).
        schedule_min_interval: the shortest time, in seconds, between two fires of an INTERVAL or CRON
            schedule (``WORKBENCH_SCHEDULE_MIN_INTERVAL``).
        max_schedules_per_user: active schedules one user may have (``WORKBENCH_MAX_SCHEDULES_PER_USER``).
        stop_timeout: seconds a stopping process (SIGTERM) gives its runs to finish before it hands
            them back (they stay resumable) and exits; the whole stop stays within about this limit
            (``WORKBENCH_STOP_TIMEOUT``).
        file_store_url: where the file store keeps the bytes of users' files (``WORKBENCH_FILE_STORE_URL``):
            ``file:///path`` or ``s3://bucket/prefix?endpoint_url=...&region=...`` (keys from
            ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``); None: the folder ``<home>/files``.
        file_max_bytes: largest file the file store keeps, uploaded or made by a block
            (``WORKBENCH_FILE_MAX_BYTES``; 50 MB by default).
        file_scan: scan every file users bring in (uploads, files blocks take from outside, knowledge
            documents) with ClamAV's clamd before anything uses it (``WORKBENCH_FILE_SCAN``: ``on`` or
            ``off``, the default); on, a process does not start when clamd does not answer.
        clamav_url: where clamd listens (``WORKBENCH_CLAMAV_URL``): ``unix:///run/clamav/clamd.ctl``
            (Debian's clamav-daemon, the default) or ``tcp://host:3310``.
        clamav_timeout: seconds one scan may take, sending the file included
            (``WORKBENCH_CLAMAV_TIMEOUT``); past it the file is refused as unscanned (503).
        youtube_base_url: root of YouTube (or a lookalike or proxy) for the transcript block: its watch
            page, player API and caption tracks (``WORKBENCH_YOUTUBE_BASE_URL``); None: www.youtube.com.
        google_api_base_url: root of the Google APIs for the Google blocks
            (``WORKBENCH_GOOGLE_API_BASE_URL``); a credential's ``base_url`` wins; None: www.googleapis.com.
        google_token_url: Google's OAuth 2.0 token endpoint, where expired access tokens of ``google``
            credentials are refreshed (``WORKBENCH_GOOGLE_TOKEN_URL``); None: oauth2.googleapis.com/token.
        google_client_id: the platform's Google OAuth client id, used to refresh tokens of credentials
            that carry no ``client_id`` of their own (``WORKBENCH_GOOGLE_CLIENT_ID``).
        google_client_secret: that client's secret (``WORKBENCH_GOOGLE_CLIENT_SECRET``; never printed).
        ideogram_base_url: root of an Ideogram-compatible image API for the Ideogram block
            (``WORKBENCH_IDEOGRAM_BASE_URL``); a credential's ``base_url`` wins; None: api.ideogram.ai.
        replicate_base_url: root of a Replicate-compatible predictions API for the Replicate blocks
            (``WORKBENCH_REPLICATE_BASE_URL``); a credential's ``base_url`` wins; None: api.replicate.com.
        replicate_timeout: seconds a Replicate block waits for its prediction before it cancels it and
            fails retryably (``WORKBENCH_REPLICATE_TIMEOUT``).
        jina_search_url: root of a Jina-Search-compatible API for SearchTheWebBlock
            (``WORKBENCH_JINA_SEARCH_URL``); a ``jina`` credential's ``base_url`` wins; None: s.jina.ai.
        jina_reader_url: root of a Jina-Reader-compatible API for ExtractWebsiteContentBlock
            (``WORKBENCH_JINA_READER_URL``); a ``jina`` credential's ``reader_url`` wins; None: r.jina.ai.
        searxng_url: a SearXNG instance SearchTheWebBlock queries (JSON API) when the user has no
            ``jina`` or ``searxng`` credential (``WORKBENCH_SEARXNG_URL``).
        mcp_allow_commands: let agents start MCP servers that are commands (stdio transport) on this
            machine, as an ``mcp`` credential names them (``WORKBENCH_MCP_ALLOW_COMMANDS=1``); off by
            default: such a server runs with this process's rights.
        mcp_timeout: seconds connecting to an MCP server, and each of its answers (a tool list, a
            tool's result), may take (``WORKBENCH_MCP_TIMEOUT``).
        webhook_tolerance: how far, in seconds, a signed webhook call's timestamp may be from this
            server's clock, either way (``WORKBENCH_WEBHOOK_TOLERANCE``); also how long its signature is
            remembered against replays.
        webhook_max_bytes: largest body a webhook call (``POST /api/v1/hooks/{id}``) may carry
            (``WORKBENCH_WEBHOOK_MAX_BYTES``).
        review_sweep_interval: seconds between two looks for human reviews whose time is up (their
            default decision applies) and answered reviews whose run was not queued again
            (``WORKBENCH_REVIEW_SWEEP_INTERVAL``).
        smtp_url: the mail server notifications and account mails go through (``WORKBENCH_SMTP_URL``:
            ``smtp://user:pass@host:587``, ``smtps://user:pass@host:465``, ``smtp://host:25``; see
            :mod:`workbench.notify.smtp_config`; never printed); None: no mail.
        mail_from: the sender address of those mails (``WORKBENCH_MAIL_FROM``); required with ``smtp_url``.
        retention_days: runs (with their node executions and sub-graph runs) older than this many
            days are pruned (``WORKBENCH_RETENTION_DAYS``); None: kept whatever their age.
        retention_per_agent: only this many newest runs of each agent are kept
            (``WORKBENCH_RETENTION_PER_AGENT``); None: no limit. Users may set stricter bounds of
            their own (``/api/v1/executions/retention``).
        retention_interval: seconds between two retention passes of ``workbench dbmanager``
            (``WORKBENCH_RETENTION_INTERVAL``).
        retention_batch: runs pruned per transaction at most (``WORKBENCH_RETENTION_BATCH``).
    """

    home: Path
    database_url: str | None = None
    node_timeout: float = 600.0
    execution_concurrency: int = 16
    process_concurrency: int = 256
    max_node_executions: int = 100_000
    flush_interval: float = 0.02
    pool_size: int = 10
    executor_concurrency: int = 32
    amqp_url: str | None = None
    redis_url: str | None = None
    key_prefix: str = "workbench"
    http_allow_private: bool = False
    http_allow: tuple[str, ...] = ()
    http_max_bytes: int = 10_000_000
    http_timeout: float = 30.0
    sandbox_timeout: float = 5.0
    sandbox_document_timeout: float = 60.0
    sandbox_memory_mb: int = 512
    sandbox_workers: int = 2
    max_subgraph_depth: int = 8
    max_child_runs: int = 1000
    schedule_min_interval: int = 60
    max_schedules_per_user: int = 100
    stop_timeout: float = 5.0
    file_store_url: str | None = None
    file_max_bytes: int = 50_000_000
    file_scan: bool = False
    clamav_url: str = "unix:///run/clamav/clamd.ctl"
    clamav_timeout: float = 60.0
    youtube_base_url: str | None = None
    google_api_base_url: str | None = None
    google_token_url: str | None = None
    google_client_id: str | None = None
    google_client_secret: str | None = field(default=None, repr=False)
    ideogram_base_url: str | None = None
    replicate_base_url: str | None = None
    replicate_timeout: float = 300.0
    jina_search_url: str | None = None
    jina_reader_url: str | None = None
    searxng_url: str | None = None
    mcp_allow_commands: bool = False
    mcp_timeout: float = 60.0
    webhook_tolerance: int = 300
    webhook_max_bytes: int = 1_000_000
    review_sweep_interval: float = 2.0
    smtp_url: str | None = field(default=None, repr=False)
    mail_from: str | None = None
    retention_days: int | None = None
    retention_per_agent: int | None = None
    retention_interval: float = 600.0
    retention_batch: int = 200

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read settings from ``env`` (default: ``os.environ``); a bad value raises ConfigError."""
        env = dict(os.environ if env is None else env)
        home = Path(env["WORKBENCH_HOME"]).expanduser() if env.get("WORKBENCH_HOME") else default_home()
        url = env.get("DATABASE_URL") or None
        if url is not None and not url.startswith(("postgresql://", "postgres://")):
            raise ConfigError(
                f"DATABASE_URL must be a postgresql:// URL, got scheme {url.split(':', 1)[0]!r}"
            )
        smtp_url, mail_from = _mail(env)
        return cls(
            home=home,
            database_url=url,
            node_timeout=_float(env, "WORKBENCH_NODE_TIMEOUT", 600.0),
            execution_concurrency=_int(env, "WORKBENCH_EXECUTION_CONCURRENCY", 16),
            process_concurrency=_int(env, "WORKBENCH_PROCESS_CONCURRENCY", 256),
            max_node_executions=_int(env, "WORKBENCH_MAX_NODE_EXECUTIONS", 100_000),
            flush_interval=_float(env, "WORKBENCH_FLUSH_INTERVAL", 0.02),
            pool_size=_int(env, "WORKBENCH_DB_POOL_SIZE", 10),
            executor_concurrency=_int(env, "WORKBENCH_EXECUTOR_CONCURRENCY", 32),
            amqp_url=_url(env, "AMQP_URL", ("amqp://", "amqps://")),
            redis_url=_url(env, "REDIS_URL", ("redis://", "rediss://", "unix://")),
            key_prefix=env.get("WORKBENCH_KEY_PREFIX") or "workbench",
            http_allow_private=env.get("WORKBENCH_HTTP_ALLOW_PRIVATE", "").lower() in ("1", "true", "yes"),
            http_allow=tuple(x.strip() for x in env.get("WORKBENCH_HTTP_ALLOW", "").split(",") if x.strip()),
            http_max_bytes=_int(env, "WORKBENCH_HTTP_MAX_BYTES", 10_000_000),
            http_timeout=_float(env, "WORKBENCH_HTTP_TIMEOUT", 30.0),
            sandbox_timeout=_float(env, "WORKBENCH_SANDBOX_TIMEOUT", 5.0),
            sandbox_document_timeout=_float(env, "WORKBENCH_SANDBOX_DOCUMENT_TIMEOUT", 60.0),
            sandbox_memory_mb=_int(env, "WORKBENCH_SANDBOX_MEMORY_MB", 512),
            sandbox_workers=_int(env, "WORKBENCH_SANDBOX_WORKERS", 2),
            max_subgraph_depth=_int(env, "WORKBENCH_MAX_SUBGRAPH_DEPTH", 8),
            max_child_runs=_int(env, "WORKBENCH_MAX_CHILD_RUNS", 1000),
            schedule_min_interval=_int(env, "WORKBENCH_SCHEDULE_MIN_INTERVAL", 60),
            max_schedules_per_user=_int(env, "WORKBENCH_MAX_SCHEDULES_PER_USER", 100),
            stop_timeout=_float(env, "WORKBENCH_STOP_TIMEOUT", 5.0),
            file_store_url=_url(env, "WORKBENCH_FILE_STORE_URL", ("file://", "s3://")),
            file_max_bytes=_int(env, "WORKBENCH_FILE_MAX_BYTES", 50_000_000),
            file_scan=_switch(env, "WORKBENCH_FILE_SCAN"),
            clamav_url=_clamd_url(env),
            clamav_timeout=_float(env, "WORKBENCH_CLAMAV_TIMEOUT", 60.0),
            youtube_base_url=_url(env, "WORKBENCH_YOUTUBE_BASE_URL", ("http://", "https://")),
            google_api_base_url=_url(env, "WORKBENCH_GOOGLE_API_BASE_URL", ("http://", "https://")),
            google_token_url=_url(env, "WORKBENCH_GOOGLE_TOKEN_URL", ("http://", "https://")),
            google_client_id=env.get("WORKBENCH_GOOGLE_CLIENT_ID") or None,
            google_client_secret=env.get("WORKBENCH_GOOGLE_CLIENT_SECRET") or None,
            ideogram_base_url=_url(env, "WORKBENCH_IDEOGRAM_BASE_URL", ("http://", "https://")),
            replicate_base_url=_url(env, "WORKBENCH_REPLICATE_BASE_URL", ("http://", "https://")),
            replicate_timeout=_float(env, "WORKBENCH_REPLICATE_TIMEOUT", 300.0),
            jina_search_url=_url(env, "WORKBENCH_JINA_SEARCH_URL", ("http://", "https://")),
            jina_reader_url=_url(env, "WORKBENCH_JINA_READER_URL", ("http://", "https://")),
            searxng_url=_url(env, "WORKBENCH_SEARXNG_URL", ("http://", "https://")),
            mcp_allow_commands=env.get("WORKBENCH_MCP_ALLOW_COMMANDS", "").lower() in ("1", "true", "yes"),
            mcp_timeout=_float(env, "WORKBENCH_MCP_TIMEOUT", 60.0),
            webhook_tolerance=_int(env, "WORKBENCH_WEBHOOK_TOLERANCE", 300),
            webhook_max_bytes=_int(env, "WORKBENCH_WEBHOOK_MAX_BYTES", 1_000_000),
            review_sweep_interval=_float(env, "WORKBENCH_REVIEW_SWEEP_INTERVAL", 2.0),
            smtp_url=smtp_url,
            mail_from=mail_from,
            retention_days=_keep(env, "WORKBENCH_RETENTION_DAYS"),
            retention_per_agent=_keep(env, "WORKBENCH_RETENTION_PER_AGENT"),
            retention_interval=_float(env, "WORKBENCH_RETENTION_INTERVAL", 600.0),
            retention_batch=_int(env, "WORKBENCH_RETENTION_BATCH", 200),
        )

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]
