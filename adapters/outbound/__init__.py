"""Outbound delivery adapters: a ping or a post in a buyer's format over a transport (HTTP,
signed webhooks, e-mail, FTP and SFTP files, plugins).

They know formats and transports only: which buyer, what price and what the answer means are
decided in `exchange` and `buyers`.
"""

from adapters.outbound.bodies import build_body, check_mapping, literal_secrets, mask
from adapters.outbound.http import HttpAdapter, HttpClient, HttpExchange, HttpTarget
from adapters.outbound.protocol import Delivery, DeliveryAdapter, Request, Stage
from adapters.outbound.registry import (
    ENTRY_POINT_GROUP,
    AdapterRegistry,
    adapters_from_entry_points,
    default_registry,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "AdapterRegistry",
    "Delivery",
    "DeliveryAdapter",
    "HttpAdapter",
    "HttpClient",
    "HttpExchange",
    "HttpTarget",
    "Request",
    "Stage",
    "adapters_from_entry_points",
    "build_body",
    "check_mapping",
    "default_registry",
    "literal_secrets",
    "mask",
]
