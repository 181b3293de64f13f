"""The Litestar application: services built at start-up, controllers, errors, the spec."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi.spec import Components, SecurityScheme

from adapters.outbound.registry import SmtpRelay, default_registry
from exchange.api.adjustments import AdjustmentController
from exchange.api.alerts import AlertController
from exchange.api.audit import AuditController
from exchange.api.auth import check_roles, key_first, provide_principal
from exchange.api.batches import BatchController
from exchange.api.buyers import BuyerController
from exchange.api.campaigns import CampaignController
from exchange.api.changes import Changes
from exchange.api.deliveries import DeliveryController, FileBatchController
from exchange.api.demo_buyer import demo_buyer
from exchange.api.dispositions import BulkDispositionController, LeadDispositionController
from exchange.api.docs import SpecConfig, StructSchemas, declare_bounds, document_errors
from exchange.api.erasure import ErasureController
from exchange.api.errors import EXCEPTION_HANDLERS
from exchange.api.explain import ExplainController
from exchange.api.finance import LedgerController, SettlementController, StatementController
from exchange.api.forms import HostedFormController
from exchange.api.holds import HoldController
from exchange.api.inbound import InboundController
from exchange.api.invoices import InvoiceController, RemittanceController
from exchange.api.jobs import JobController
from exchange.api.keys import KeyController
from exchange.api.leads import LeadController
from exchange.api.limits import RateLimits
from exchange.api.marketplace import MarketplaceController
from exchange.api.me import MeController
from exchange.api.money import BalanceController, PaymentController
from exchange.api.options import allow_every_method
from exchange.api.payouts import PayoutController, PayoutRunController
from exchange.api.periods import PeriodController
from exchange.api.pings import PingController
from exchange.api.publishers import PublisherController
from exchange.api.pulls import PullController
from exchange.api.reports import ReportController
from exchange.api.returns import LeadReturnController, ReturnController
from exchange.api.service import healthz, metrics
from exchange.api.services import Metrics, Services
from exchange.api.verticals import VerticalController
from exchange.clock import Clock, utc_now
from exchange.console import console_router
from exchange.console.api_docs import docs_assets, docs_page
from exchange.distribution.catalog import CampaignCatalog
from exchange.jobs.alerts import AlertWatch
from exchange.jobs.distribute import JobContext
from exchange.jobs.outbox import OutboxRunner
from exchange.jobs.queue import ArqRelay, queue_pool
from exchange.jobs.upkeep import Upkeep
from exchange.pipeline.sources import SourceScores
from exchange.pipeline.validate import zip_states
from exchange.settings import Settings, load_settings
from exchange.storage.checkpoint import WalCheckpointer
from exchange.storage.db import SqliteLock, create_engine, sqlite_path
from exchange.storage.migrate import seed, upgrade
from exchange.storage.verticals import VerticalCache
from exchange.storage.writer import LeadWriter

VERSION = "0.1.0"
# The collector's generation thresholds once start-up is frozen (Python's are 700, 10, 10).
GC_THRESHOLDS = (10_000, 20, 20)


async def start_services(settings: Settings, clock: Clock = utc_now, *, role: str = "server") -> Services:
    """Migrate, seed, and start the writer and the outbox runner of this process.

    `role` is `server` (`exchange serve`) or `worker` (`exchange worker`, REDIS_URL set).
    Without REDIS_URL a server runs its background work itself; with it, a server hands the
    outbox's due rows to arq (jobs/queue.py) and the workers run them and the upkeep beat."""
    sqlite_lock = SqliteLock.take(settings.database_url)
    await asyncio.to_thread(upgrade, settings.database_url)
    # The zip table takes a second to build: pay it at start, not on the first lead.
    await asyncio.to_thread(zip_states)
    path = sqlite_path(settings.database_url)
    checkpointer = WalCheckpointer(path) if path is not None else None
    engine = create_engine(settings.database_url, checkpoints=checkpointer is None)
    await seed(engine, admin_key=settings.admin_key)
    verticals = VerticalCache(engine)
    await verticals.reload()
    adapters = default_registry(allow_private=settings.allow_private_destinations, smtp=smtp_relay(settings))
    jobs = JobContext(
        engine=engine,
        clock=clock,
        adapters=adapters,
        catalog=CampaignCatalog(engine, adapters),
        verticals=verticals,
        lease_seconds=settings.outbox_lease_seconds,
    )
    pool = await queue_pool(settings.redis_url) if settings.redis_url else None
    if pool is not None and role == "server":
        runner: OutboxRunner = ArqRelay(jobs, pool, poll_seconds=settings.outbox_poll_seconds)
    else:
        runner = OutboxRunner(jobs, poll_seconds=settings.outbox_poll_seconds)
    upkeep = Upkeep(
        engine,
        adapters,
        clock,
        poll_seconds=settings.upkeep_seconds,
        claim_seconds=settings.file_batch_claim_seconds,
    )
    writer = LeadWriter(engine, max_batch=settings.writer_max_batch, on_commit=runner.notify)
    writer.start()
    # A worker runs only the jobs arq gives it; it renews their leases all the same.
    runner.start(claim=role == "server")
    if pool is None or role == "worker":
        upkeep.start()
    # Every process watches for alerts: the sale path notes them in the process that sells.
    alerts = AlertWatch(
        engine, clock, jobs.alerts, poll_seconds=settings.upkeep_seconds, on_raise=runner.notify
    )
    alerts.start()
    if checkpointer is not None:
        checkpointer.start(engine)
    services = Services(
        settings=settings,
        engine=engine,
        clock=clock,
        writer=writer,
        runner=runner,
        upkeep=upkeep,
        jobs=jobs,
        verticals=verticals,
        metrics=Metrics(),
        sources=SourceScores(engine, clock, settings.source_score_seconds),
        checkpointer=checkpointer,
        redis=pool,
        changes=Changes(pool),
        sqlite_lock=sqlite_lock,
        limits=RateLimits(settings, pool),
        alerts=alerts,
    )
    services.changes.start(services)
    jobs.intake = services
    upkeep.intake = services
    if settings.smtp_port:
        from exchange.api.smtp import start_smtp  # aiosmtpd, only where the inbox is on

        services.smtp = await start_smtp(services, settings.smtp_host, settings.smtp_port)
    if settings.ftp_port:
        from exchange.api.ftp import start_ftp  # aioftp's server, only where the drop box is on

        services.ftp = await start_ftp(services)
    return services


def smtp_relay(settings: Settings) -> SmtpRelay:
    return SmtpRelay(
        relay=settings.smtp_relay,
        username=settings.smtp_username,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
        sender=settings.smtp_from,
    )


async def stop_services(services: Services) -> None:
    if services.smtp is not None:
        services.smtp.close()
        await services.smtp.wait_closed()
    if services.ftp is not None:
        await services.ftp.close()
    if services.checkpointer is not None:
        await services.checkpointer.stop()
    await services.writer.stop()
    await services.runner.stop()
    await services.upkeep.stop()
    await services.alerts.stop()
    await services.jobs.adapters.close()
    await services.changes.stop()
    if services.redis is not None:
        await services.redis.aclose()
    await services.engine.dispose()
    if services.checkpointer is not None:
        await services.checkpointer.close()
    if services.sqlite_lock is not None:
        services.sqlite_lock.release()


def create_server_app() -> Litestar:
    """The app of one of `exchange serve --workers N`'s processes (uvicorn's factory)."""
    return create_app(load_settings(), settle_heap=True)


def create_app(
    settings: Settings | None = None, *, clock: Clock = utc_now, settle_heap: bool = False
) -> Litestar:
    """The API. `settle_heap` (the server's own process, never tests that build many apps in
    one process) exempts what start-up built from garbage collection: see settle_heap_after_start."""
    settings = settings or load_settings()
    holder: dict[str, Services] = {}

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        holder["services"] = await start_services(settings, clock)
        # The intake route's fast path (api/leads.intake_fast_path) finds them here.
        app.state.services = holder["services"]
        if settle_heap:
            settle_heap_after_start()
        try:
            yield
        finally:
            app.state.services = None
            await stop_services(holder.pop("services"))

    def provide_services() -> Services:
        return holder["services"]

    extra = [demo_buyer] if settings.demo else []
    app = Litestar(
        route_handlers=[
            *extra,
            KeyController,
            MeController,
            PublisherController,
            PullController,
            BuyerController,
            VerticalController,
            LeadController,
            ErasureController,
            ExplainController,
            MarketplaceController,
            HoldController,
            CampaignController,
            BatchController,
            PingController,
            InboundController,
            DeliveryController,
            FileBatchController,
            JobController,
            LeadReturnController,
            ReturnController,
            LeadDispositionController,
            BulkDispositionController,
            ReportController,
            PaymentController,
            PayoutController,
            PayoutRunController,
            AdjustmentController,
            PeriodController,
            BalanceController,
            LedgerController,
            SettlementController,
            StatementController,
            AlertController,
            InvoiceController,
            RemittanceController,
            AuditController,
            HostedFormController,
            healthz,
            metrics,
            console_router(),
            docs_assets(),
        ],
        dependencies={
            "services": Provide(provide_services, sync_to_thread=False),
            "principal": Provide(provide_principal),
        },
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        before_request=key_first,
        lifespan=[lifespan],
        # Structs are documented by msgspec's own schema of them (api/docs.py).
        plugins=[StructSchemas()],
        middleware=[allow_every_method],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=SpecConfig(
            title="Lead exchange",
            version=VERSION,
            description="Publishers post leads; the exchange checks, grades, prices and sells them."
            " No text the exchange keeps holds a NUL character (\\u0000): a JSON body carrying one is"
            " refused (422), and a lead's field holding one is named in its errors.",
            path="/schema",
            # Served with its scripts from the app: the page works offline (console/api_docs.py).
            render_plugins=[docs_page()],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", description="an API key")
                }
            ),
            security=[{"bearer": []}],
        ),
    )
    # A route handler that names no roles (and is not public) is refused here, by name.
    check_roles(app)
    document_errors(app)
    declare_bounds(app)
    return app


def settle_heap_after_start() -> None:
    """Exempt the start-up heap (modules, the zip table, caches) from the cyclic collector.

    A full collection walks every tracked object: with the ≈110 000 objects start-up leaves
    it took ≈30 ms, a stall of every request in flight, once every few thousand leads. Frozen,
    those objects are never walked again; a larger first generation makes the young
    collections that free each request's cycles rarer (see docs/performance.md).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def openapi_document() -> str:
    """The spec as committed in openapi/openapi.json: stable key order, two-space indent."""
    import json

    from litestar.serialization import encode_json

    app = create_app(Settings())
    spec = json.loads(encode_json(app.openapi_schema.to_schema()))
    return json.dumps(spec, indent=2, sort_keys=True) + "\n"
