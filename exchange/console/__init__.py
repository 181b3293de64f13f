"""The console: pages served by the exchange itself, signed in with an API key.

Each page shows what the API shows the signed-in key's role, read through the API's own
queries (exchange/api/leads.py); sessions and CSRF are in session.py.
"""

from __future__ import annotations

from importlib.resources import files

from litestar import Router
from litestar.static_files import create_static_files_router

from exchange.console.accounts import ConsoleAccountsController, ConsoleKeysController
from exchange.console.alerts import ConsoleAlertController
from exchange.console.campaigns import ConsoleCampaignController
from exchange.console.deliveries import ConsoleDeliveryController
from exchange.console.explain import ConsoleExplainController
from exchange.console.flow import FlowController
from exchange.console.holds import ConsoleHoldController
from exchange.console.leads import ConsoleLeadController
from exchange.console.money import AccountController, MoneyController
from exchange.console.money_actions import MoneyActionsController, PeriodActionsController
from exchange.console.render import EXCEPTION_HANDLERS, check_request
from exchange.console.reports import ChartsController
from exchange.console.returns import ConsoleReturnController
from exchange.console.signin import SignInController


def console_router() -> Router:
    """The console's pages and their static files, each POST checked for its CSRF token."""
    static = create_static_files_router(
        path="/console/static",
        directories=[str(files("exchange.console") / "static")],
        include_in_schema=False,
    )
    return Router(
        path="/",
        route_handlers=[
            SignInController,
            FlowController,
            ConsoleLeadController,
            MoneyController,
            ConsoleAccountsController,
            AccountController,
            MoneyActionsController,
            PeriodActionsController,
            ConsoleKeysController,
            ChartsController,
            ConsoleCampaignController,
            ConsoleReturnController,
            ConsoleDeliveryController,
            ConsoleHoldController,
            ConsoleAlertController,
            ConsoleExplainController,
            static,
        ],
        before_request=check_request,
        exception_handlers=EXCEPTION_HANDLERS,
        include_in_schema=False,
    )
