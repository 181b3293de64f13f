"""Tables of the exchange core: accounts and keys, verticals, leads, events, outbox, dedupe, idempotency.

Declarative models describe the schema (Alembic reads them); hot paths use their
`__table__` with Core statements.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, whatever the database keeps (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    # On SQLite one step each way, in the text SQLAlchemy's DATETIME keeps there
    # ("2026-11-26 12:00:00.000000"): every lead binds about a dozen of these.
    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # A lead's rows and events share one `now`: the last value's text is kept.
        last: list[tuple[datetime, str]] = []

        def to_text(value: datetime | None) -> str | None:
            if value is None:
                return None
            kept = last[0] if last else None
            if kept is not None and kept[0] is value:
                return kept[1]
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            text = value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
            last[:] = [(value, text)]
            return text

        return to_text

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def from_text(value: str | None) -> datetime | None:
            return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)

        return from_text


Json = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    publisher_id: Mapped[str | None] = mapped_column(String(32))
    buyer_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Publisher(Base):
    __tablename__ = "publishers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    payout: Mapped[dict[str, Any]] = mapped_column(Json)
    default_vertical: Mapped[str | None] = mapped_column(String(48))
    inbox: Mapped[str] = mapped_column(String(64), unique=True)
    field_mapping: Mapped[dict[str, Any]] = mapped_column(Json)
    consent_text: Mapped[str | None] = mapped_column(Text)
    # {"per_second", "burst"}: this publisher's requests, instead of the default (api/limits.py).
    rate_limit: Mapped[dict[str, Any] | None] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Buyer(Base):
    __tablename__ = "buyers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    credit_limit_cents: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class VerticalRow(Base):
    __tablename__ = "verticals"

    key: Mapped[str] = mapped_column(String(48), primary_key=True)
    fields: Mapped[list[Any]] = mapped_column(Json)
    distribution: Mapped[dict[str, Any]] = mapped_column(Json)
    is_builtin: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LeadRow(Base):
    __tablename__ = "leads"
    __table_args__ = (
        Index("ix_leads_publisher_id_id", "publisher_id", "id"),
        Index("ix_leads_status_id", "status", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    vertical: Mapped[str] = mapped_column(String(48))
    publisher_id: Mapped[str] = mapped_column(String(32))
    sub_id: Mapped[str | None] = mapped_column(String(255))
    external_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    grade: Mapped[str | None] = mapped_column(String(1))
    grade_score: Mapped[int | None] = mapped_column(Integer)
    grade_reasons: Mapped[list[str]] = mapped_column(Json)
    fields: Mapped[dict[str, Any]] = mapped_column(Json)
    consent: Mapped[dict[str, Any] | None] = mapped_column(Json)
    extra: Mapped[dict[str, Any]] = mapped_column(Json)
    errors: Mapped[list[Any]] = mapped_column(Json)
    payout_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LeadEvent(Base):
    """A lead's history, append-only: nothing here is ever updated (erasure aside)."""

    __tablename__ = "lead_events"
    __table_args__ = (Index("ix_lead_events_lead_id_id", "lead_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    lead_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(Json)


class OutboxRow(Base):
    """Work still owed on a lead, committed with it; a runner claims and completes it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "done_at", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(48))
    lead_id: Mapped[str | None] = mapped_column(String(32), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The lease's token: whoever claimed the row last. Work done under an older token is
    # refused (jobs/lease.py), so a process that lost its lease cannot act on the lead.
    owner: Mapped[str | None] = mapped_column(String(32))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    # Set, with done_at, when its attempts are spent: parked for operators (GET /v1/jobs).
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DedupeClaim(Base):
    """The latest lead per (vertical, phone|email), under one 63-bit key (writer.claim_key):
    a hash of a hash, so erasure leaves no contact here.

    One integer primary key keeps the claim in a single B-tree (SQLite's rowid) with short
    rows: a batch's claims land on random pages of it, as few and as small as they can be."""

    __tablename__ = "dedupe_claims"

    key: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    lead_id: Mapped[str] = mapped_column(String(32))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    publisher_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    lead_id: Mapped[str | None] = mapped_column(String(32), index=True)
    # "sync" or "async": a sync request's answer is its lead's outcome, read when replayed.
    mode: Mapped[str | None] = mapped_column(String(8))
    answer: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


api_keys = ApiKey.__table__
publishers = Publisher.__table__
buyers = Buyer.__table__
verticals = VerticalRow.__table__
leads = LeadRow.__table__
lead_events = LeadEvent.__table__
outbox = OutboxRow.__table__
dedupe_claims = DedupeClaim.__table__
idempotency_keys = IdempotencyKey.__table__


class CampaignRow(Base):
    """A buyer's standing order; its whole configuration as validated JSON, hot columns beside it."""

    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_vertical_active", "vertical", "active"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    buyer_id: Mapped[str] = mapped_column(String(32), index=True)
    vertical: Mapped[str] = mapped_column(String(48))
    active: Mapped[bool] = mapped_column(Boolean)
    config: Mapped[dict[str, Any]] = mapped_column(Json)
    # A webhook campaign's signing secrets, kept apart from its settings (never shown again):
    # [{"secret", "until"}], `until` (epoch seconds) set on one rotated out, None on the current.
    webhook_secrets: Mapped[list[dict[str, Any]] | None] = mapped_column(Json, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set once when archived: it sells no more and cannot be made active again; its sales,
    # caps and ledger history stay (api/campaigns.py).
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CapCounter(Base):
    """Leads and spend a campaign has reserved in one cap period (a day, a week…)."""

    __tablename__ = "cap_counters"

    campaign_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    period_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    leads: Mapped[int] = mapped_column(Integer)
    spend_cents: Mapped[int] = mapped_column(BigInteger)


class RotationState(Base):
    """Smooth weighted round-robin position of each campaign, shared by every process."""

    __tablename__ = "rotation_state"

    pool: Mapped[str] = mapped_column(String(64), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    current: Mapped[int] = mapped_column(BigInteger)


class SaleRow(Base):
    """A lead sold to a campaign: one row per (lead, campaign), as the ledger's natural key."""

    __tablename__ = "sales"
    __table_args__ = (
        Index("uq_sales_lead_campaign", "lead_id", "campaign_id", unique=True),
        # A source's recent sales, for its score (billing/reports.source_scores).
        Index("ix_sales_publisher_id_sold_at", "publisher_id", "sold_at"),
        # A campaign's sales today, for its usage (api/campaign_usage.py).
        Index("ix_sales_campaign_id_sold_at", "campaign_id", "sold_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(32))
    campaign_id: Mapped[str] = mapped_column(String(32))
    buyer_id: Mapped[str] = mapped_column(String(32), index=True)
    publisher_id: Mapped[str] = mapped_column(String(32))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    payout_cents: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str | None] = mapped_column(String(255))
    transaction_id: Mapped[str] = mapped_column(String(32))
    sold_at: Mapped[datetime] = mapped_column(UTCDateTime())


class HoldRow(Base):
    """What a buyer holds of a lead: the caps and funds reserved for one sale, and its state.

    held → posting → sold | released, or uncertain when a post's answer was lost; each change
    is committed with its effect (distribution/holds.py). A `posting` hold keeps the exact
    request sent, so whoever takes the lead over can ask the same buyer again.
    """

    __tablename__ = "holds"
    __table_args__ = (
        Index("ix_holds_lead_id", "lead_id"),
        # Only the holds awaiting an operator: a sale's hold never enters it, so the hot path
        # (insert as posting, move to sold) maintains no index on state.
        Index(
            "ix_holds_uncertain",
            "id",
            sqlite_where=text("state = 'uncertain'"),
            postgresql_where=text("state = 'uncertain'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(32))
    campaign_id: Mapped[str] = mapped_column(String(32))
    buyer_id: Mapped[str] = mapped_column(String(32))
    # How the lead reached the buyer: "push" (distribution) or "pull" (a marketplace claim).
    source: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16))
    # Held for an exclusive campaign: the lead is this buyer's alone, or nobody's.
    exclusive: Mapped[bool] = mapped_column(Boolean)
    price_cents: Mapped[int] = mapped_column(BigInteger)
    # [period_key, leads, spend_cents] held on each of the campaign's cap counters.
    counters: Mapped[list[Any]] = mapped_column(Json)
    # The post's delivery id, sent as its Idempotency-Key on every attempt (each attempt's
    # row in the delivery audit has an id of its own and this key in its request).
    delivery_id: Mapped[str | None] = mapped_column(String(32))
    # The post exactly as sent (step, body, content type) while its outcome is open.
    request: Mapped[dict[str, Any] | None] = mapped_column(Json)
    # The offers after this one, best first: where the waterfall goes if this one fails.
    waterfall: Mapped[list[Any]] = mapped_column(Json)
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DeliveryRow(Base):
    """One ping or post to a buyer: what was sent, what came back, how long it took."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_lead_id", "lead_id"),
        Index("ix_deliveries_buyer_id_created_at", "buyer_id", "created_at"),
        Index("ix_deliveries_created_at", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(32))
    campaign_id: Mapped[str] = mapped_column(String(32))
    buyer_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    request: Mapped[dict[str, Any]] = mapped_column(Json)
    response: Mapped[dict[str, Any]] = mapped_column(Json)
    http_status: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    price_cents: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FileBatchItemRow(Base):
    """A sold lead waiting for its campaign's next batched file (its one-lead request), then
    the batch it went into: set once, so no lead is in two files and none is left out."""

    __tablename__ = "file_batch_items"
    __table_args__ = (Index("ix_file_batch_items_campaign_id_batch_id", "campaign_id", "batch_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the sale's hold id
    campaign_id: Mapped[str] = mapped_column(String(32))
    lead_id: Mapped[str] = mapped_column(String(32))
    request: Mapped[dict[str, Any]] = mapped_column(Json)
    batch_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FileBatchRow(Base):
    """One batched file of a campaign: `open` until the file server has it whole, then `sent`;
    `failed` once its attempts are spent (operators send it again)."""

    __tablename__ = "file_batches"
    __table_args__ = (Index("ix_file_batches_state_due_at", "state", "due_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(32), index=True)
    state: Mapped[str] = mapped_column(String(16))
    leads: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    file: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class BatchRow(Base):
    """A file of leads a publisher sent in one request (CSV or XLSX), kept until it is read
    whole: `next_row` is where a restarted import goes on from."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    publisher_id: Mapped[str] = mapped_column(String(32), index=True)
    vertical: Mapped[str] = mapped_column(String(48))
    status: Mapped[str] = mapped_column(String(16))  # processing | done
    format: Mapped[str] = mapped_column(String(8))  # csv | xlsx | xml | ndjson
    data: Mapped[bytes | None] = mapped_column(LargeBinary)  # dropped once the batch is done
    # Where the file came from when not `POST /v1/leads/batch` ({"channel": "ftp", "path"}),
    # kept on each row's lead; and the file's own name.
    origin: Mapped[dict[str, Any] | None] = mapped_column(Json)
    name: Mapped[str | None] = mapped_column(Text)
    total: Mapped[int | None] = mapped_column(Integer)
    next_row: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BatchLeadRow(Base):
    """One row of a batch and what became of it (`row` 1 is the first data row)."""

    __tablename__ = "batch_rows"

    batch_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    row: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    errors: Mapped[list[Any]] = mapped_column(Json)


class PingRow(Base):
    """A publisher's ping: the partial lead, the bid held for it until `expires_at`, and the
    id its lead takes when posted."""

    __tablename__ = "pings"
    __table_args__ = (Index("ix_pings_status_expires_at", "status", "expires_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    publisher_id: Mapped[str] = mapped_column(String(32), index=True)
    vertical: Mapped[str] = mapped_column(String(48))
    fields: Mapped[dict[str, Any]] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(16))  # bid | no_bid | posted | expired
    lead_id: Mapped[str] = mapped_column(String(32))
    hold_id: Mapped[str | None] = mapped_column(String(32))
    price_cents: Mapped[int | None] = mapped_column(BigInteger)
    payout_cents: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LedgerTransaction(Base):
    """A balanced set of entries; `natural_key` (sale:L:C, payment:B:REF…) makes a retry land once."""

    __tablename__ = "ledger_transactions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    natural_key: Mapped[str] = mapped_column(String(300), unique=True)
    lead_id: Mapped[str | None] = mapped_column(String(32))
    memo: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_account", "account_id", "created_at"),
        Index("ix_ledger_entries_created_at", "created_at", "id"),
        Index("ix_ledger_entries_lead_id", "lead_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    transaction_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    account_type: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str] = mapped_column(String(32))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    lead_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AccountBalance(Base):
    """Cached sum of an account's entries, plus what running sales have reserved.

    Updated in the same transaction as the entries; the entries stay the truth.
    """

    __tablename__ = "account_balances"

    account_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    balance_cents: Mapped[int] = mapped_column(BigInteger)
    reserved_cents: Mapped[int] = mapped_column(BigInteger)


campaigns = CampaignRow.__table__
cap_counters = CapCounter.__table__
rotation_state = RotationState.__table__
sales = SaleRow.__table__
holds = HoldRow.__table__
deliveries = DeliveryRow.__table__
pings = PingRow.__table__
batches = BatchRow.__table__
batch_rows = BatchLeadRow.__table__
file_batch_items = FileBatchItemRow.__table__
file_batches = FileBatchRow.__table__
ledger_transactions = LedgerTransaction.__table__
ledger_entries = LedgerEntry.__table__
account_balances = AccountBalance.__table__


class ReturnRow(Base):
    """A buyer's claim that a sold lead was bad; one per sale (the ledger's natural key)."""

    __tablename__ = "returns"
    __table_args__ = (
        Index("ix_returns_status_created_at", "status", "created_at"),
        Index("ix_returns_publisher_id_status", "publisher_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sale_id: Mapped[str] = mapped_column(String(32), unique=True)
    lead_id: Mapped[str] = mapped_column(String(32), index=True)
    campaign_id: Mapped[str] = mapped_column(String(32))
    buyer_id: Mapped[str] = mapped_column(String(32), index=True)
    publisher_id: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decision_note: Mapped[str | None] = mapped_column(Text)
    transaction_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DispositionRow(Base):
    """What became of a lead at a buyer: contacted, quoted, sold (with revenue), dead…"""

    __tablename__ = "dispositions"
    __table_args__ = (Index("ix_dispositions_publisher_id_status", "publisher_id", "status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(32), index=True)
    buyer_id: Mapped[str] = mapped_column(String(32), index=True)
    publisher_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    revenue_cents: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


returns = ReturnRow.__table__
dispositions = DispositionRow.__table__


class ClosedPeriodRow(Base):
    """A month finance has closed: no posting may be dated in it until it is reopened."""

    __tablename__ = "closed_periods"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)


class PeriodEventRow(Base):
    """Each close and reopening of a month, by whom and why: the period's own history."""

    __tablename__ = "period_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    month: Mapped[str] = mapped_column(String(7), index=True)
    action: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    by: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)


closed_periods = ClosedPeriodRow.__table__
period_events = PeriodEventRow.__table__


class PullRow(Base):
    """A source the exchange polls for a publisher: an RSS/Atom feed, or an FTP/SFTP folder.
    A beat runs a due pull under a lease (`claimed_by` until `claimed_until`), so one process
    runs it at a time; `pull_items` makes each item taken once whatever the lease does."""

    __tablename__ = "pulls"
    __table_args__ = (Index("ix_pulls_active_next_due_at", "active", "next_due_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    publisher_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # feed | ftp | sftp
    url: Mapped[str] = mapped_column(Text)  # may carry a password: masked in every view
    vertical: Mapped[str] = mapped_column(String(48))
    every_minutes: Mapped[int] = mapped_column(Integer)
    options: Mapped[dict[str, Any]] = mapped_column(Json)  # {"host_key"?, "pattern"?, "after"?}
    active: Mapped[bool] = mapped_column(Boolean)
    next_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(32))
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PullItemRow(Base):
    """An item a pull took (a feed entry by its id, a remote file by name, size and time) and
    what it became; an item found here is never taken again."""

    __tablename__ = "pull_items"

    pull_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    lead_id: Mapped[str | None] = mapped_column(String(32))
    batch_id: Mapped[str | None] = mapped_column(String(32))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PullEventRow(Base):
    """What a pull did, for operators: each run, each item taken, each failure."""

    __tablename__ = "pull_events"
    __table_args__ = (Index("ix_pull_events_pull_id_id", "pull_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    pull_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # run | taken | failed
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    detail: Mapped[dict[str, Any]] = mapped_column(Json)


pulls = PullRow.__table__
pull_items = PullItemRow.__table__
pull_events = PullEventRow.__table__


class AlertSubscriptionRow(Base):
    """Who hears of which alerts, and how: by e-mail, by a signed webhook, or both
    (api/alerts.py). An operator's hears of every buyer's alerts (or one buyer's); a buyer's,
    of its own."""

    __tablename__ = "alert_subscriptions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Whose it is, "operator" or "buyer": a buyer sees and removes only its own.
    audience: Mapped[str] = mapped_column(String(16))
    # The buyer whose alerts it hears of; None: every buyer's.
    buyer_id: Mapped[str | None] = mapped_column(String(32), index=True)
    kinds: Mapped[list[str]] = mapped_column(Json)
    email: Mapped[str | None] = mapped_column(String(320))
    webhook_url: Mapped[str | None] = mapped_column(Text)
    # Signs its webhooks (Standard Webhooks); shown once, when the subscription is made.
    webhook_secret: Mapped[str | None] = mapped_column(String(128))
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AlertThresholdRow(Base):
    """A buyer's own alert thresholds: its balance below `low_balance_cents` is an alert."""

    __tablename__ = "alert_thresholds"

    buyer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    low_balance_cents: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AlertRow(Base):
    """An alert raised: one condition (kind) of one subject (a buyer or a campaign) in one UTC
    hour at most, held unique by the database, so processes sharing it never raise it twice."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("uq_alerts_kind_subject_id_hour", "kind", "subject_id", "hour", unique=True),
        Index("ix_alerts_buyer_id_id", "buyer_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(32))
    buyer_id: Mapped[str] = mapped_column(String(32))
    campaign_id: Mapped[str | None] = mapped_column(String(32))
    hour: Mapped[datetime] = mapped_column(UTCDateTime())
    message: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(Json)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime())


alert_subscriptions = AlertSubscriptionRow.__table__
alert_thresholds = AlertThresholdRow.__table__
alerts = AlertRow.__table__


class AuditRow(Base):
    """One change an operator, finance or buyer key made: who, from where, when, and what
    changed (only the changed fields of an update; secrets masked). Append-only (exchange/audit.py)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_entity", "entity_type", "entity_id", "id"),
        Index("ix_audit_log_actor_key_id_id", "actor_key_id", "id"),
        Index("ix_audit_log_actor_account_id_id", "actor_account_id", "id"),
        Index("ix_audit_log_action_id", "action", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    action: Mapped[str] = mapped_column(String(64))  # campaign.update, key.create…
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    actor_key_id: Mapped[str] = mapped_column(String(32))
    actor_role: Mapped[str] = mapped_column(String(16))
    # The buyer or publisher the actor's key belongs to; None for operator and finance keys.
    actor_account_id: Mapped[str | None] = mapped_column(String(32))
    client_address: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(Json)
    after: Mapped[dict[str, Any] | None] = mapped_column(Json)


audit_log = AuditRow.__table__


class InstanceSecretRow(Base):
    """A secret this deployment made for itself on first use, shared by all its processes
    (the console's session signing key, unless a setting gives one)."""

    __tablename__ = "instance_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


instance_secrets = InstanceSecretRow.__table__
