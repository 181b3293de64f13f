"""Settings, read once from the environment (and an optional TOML file) into a frozen Struct.

Every variable CONTRACT.md names is here; nothing else in the code reads the environment.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import msgspec

DEFAULT_DATABASE_URL = "sqlite:///./var/exchange.db"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    admin_key: str | None = None
    smtp_port: int | None = None
    # Where the SMTP inbox listens (all interfaces: 0.0.0.0).
    smtp_host: str = "127.0.0.1"
    ftp_port: int | None = None
    # The FTP drop box: where it listens, where homes are kept and for how long, the largest
    # file, and for servers behind NAT the passive ports ("30000-30049") and public address.
    ftp_host: str = "127.0.0.1"
    ftp_root: str = "./var/ftp"
    ftp_keep_days: float = 30.0
    ftp_max_file_bytes: int = 64 * 1024 * 1024
    ftp_passive_ports: str | None = None
    ftp_public_host: str | None = None
    allow_private_destinations: bool = False
    smtp_relay: str | None = None
    # The relay's login and STARTTLS (None: used when the relay offers it), and the sender.
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool | None = None
    smtp_from: str = "leads@lead-exchange.invalid"
    # The upkeep beat (jobs/upkeep.py): expired pings' bids released, batched files sent; and
    # how often each process's alert watch looks for alerts to raise (jobs/alerts.py).
    upkeep_seconds: float = 15.0
    # How long one process has a batch it is sending before another may send it again.
    file_batch_claim_seconds: float = 120.0
    max_body_bytes: int = 1024 * 1024
    # Requests per second (and burst above it) for each API key, unless its publisher has a
    # rate of its own; and for each client address sending no valid key. 0: no limit.
    # Who reads /metrics: "loopback" (this machine, else an operator key), "open", "key".
    metrics_access: str = "loopback"
    rate_per_second: float = 500.0
    rate_burst: int = 1000
    address_rate_per_second: float = 20.0
    address_burst: int = 100
    # Group commit: how many leads one transaction may carry at most.
    writer_max_batch: int = 256
    # In-process outbox runner: how often it looks for work nobody woke it for.
    outbox_poll_seconds: float = 1.0
    # How long a claimed outbox row is someone's unless renewed (every third of it) by the
    # process working on it: work whose process died is taken over within about this long.
    outbox_lease_seconds: float = 6.0
    # How many jobs one `exchange worker` runs at once.
    worker_jobs: int = 32
    # How long a source's closed-loop score is reused before it is computed again.
    source_score_seconds: float = 300.0
    demo: bool = False
    # The exchange as invoices and remittance statements name it (lines of the address split
    # at newlines), and the TrueType font their PDFs are set in (None: a system DejaVu Sans if
    # there is one, else the PDF core font, whose Latin-1 stands in for other characters).
    company_name: str = "Lead Exchange"
    company_address: str = ""
    company_tax_id: str | None = None
    document_font: str | None = None
    # The exchange's public address ("https://leads.example.com"): over https the console's
    # cookies are Secure. The key signing console sessions; None: one generated and kept in
    # the database on first use (exchange/console/session.py).
    public_url: str | None = None
    console_secret: str | None = None


_ENV = {
    "DATABASE_URL": "database_url",
    "REDIS_URL": "redis_url",
    "EXCHANGE_ADMIN_KEY": "admin_key",
    "EXCHANGE_SMTP_PORT": "smtp_port",
    "EXCHANGE_SMTP_HOST": "smtp_host",
    "EXCHANGE_FTP_PORT": "ftp_port",
    "EXCHANGE_FTP_HOST": "ftp_host",
    "EXCHANGE_FTP_ROOT": "ftp_root",
    "EXCHANGE_FTP_KEEP_DAYS": "ftp_keep_days",
    "EXCHANGE_FTP_MAX_FILE_BYTES": "ftp_max_file_bytes",
    "EXCHANGE_FTP_PASSIVE_PORTS": "ftp_passive_ports",
    "EXCHANGE_FTP_PUBLIC_HOST": "ftp_public_host",
    "EXCHANGE_ALLOW_PRIVATE_DESTINATIONS": "allow_private_destinations",
    "EXCHANGE_SMTP_RELAY": "smtp_relay",
    "EXCHANGE_SMTP_USERNAME": "smtp_username",
    "EXCHANGE_SMTP_PASSWORD": "smtp_password",
    "EXCHANGE_SMTP_STARTTLS": "smtp_starttls",
    "EXCHANGE_SMTP_FROM": "smtp_from",
    "EXCHANGE_UPKEEP_SECONDS": "upkeep_seconds",
    "EXCHANGE_FILE_BATCH_CLAIM_SECONDS": "file_batch_claim_seconds",
    "EXCHANGE_MAX_BODY_BYTES": "max_body_bytes",
    "EXCHANGE_METRICS_ACCESS": "metrics_access",
    "EXCHANGE_RATE_PER_SECOND": "rate_per_second",
    "EXCHANGE_RATE_BURST": "rate_burst",
    "EXCHANGE_ADDRESS_RATE_PER_SECOND": "address_rate_per_second",
    "EXCHANGE_ADDRESS_BURST": "address_burst",
    "EXCHANGE_WRITER_MAX_BATCH": "writer_max_batch",
    "EXCHANGE_OUTBOX_POLL_SECONDS": "outbox_poll_seconds",
    "EXCHANGE_OUTBOX_LEASE_SECONDS": "outbox_lease_seconds",
    "EXCHANGE_SOURCE_SCORE_SECONDS": "source_score_seconds",
    "EXCHANGE_WORKER_JOBS": "worker_jobs",
    "EXCHANGE_COMPANY_NAME": "company_name",
    "EXCHANGE_COMPANY_ADDRESS": "company_address",
    "EXCHANGE_COMPANY_TAX_ID": "company_tax_id",
    "EXCHANGE_DOCUMENT_FONT": "document_font",
    "EXCHANGE_PUBLIC_URL": "public_url",
    "EXCHANGE_CONSOLE_SECRET": "console_secret",
}


def load_settings(environ: dict[str, str] | None = None, toml_path: Path | None = None) -> Settings:
    """Environment wins over the TOML file (`EXCHANGE_CONFIG` or ./exchange.toml when present)."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, object] = {}
    path = toml_path or Path(env.get("EXCHANGE_CONFIG", "exchange.toml"))
    if path.is_file():
        values.update(tomllib.loads(path.read_text()))
    for var, name in _ENV.items():
        raw = env.get(var)
        if raw is not None and raw != "":
            values[name] = raw
    for flag in ("allow_private_destinations", "smtp_starttls"):
        if isinstance(values.get(flag), str):
            values[flag] = values[flag].lower() in ("1", "true", "yes")
    return msgspec.convert(values, Settings, strict=False)
