"""Python client of an iR³ node: its JSON-RPC and native apps (money, lending, and in a
gateway network reputation, territory, messaging and compute).

>>> import ir3
>>> node = ir3.connect("localhost:8545")
>>> node.money.mint(currency="GOLD", amount=1000, sender=node.accounts[0])
>>> node.money.balance(node.accounts[0], "GOLD")
1000

``node.<app>.<method>(...)`` calls ``ir3_<app>_<method>`` for any app, ``node.call(method,
*params)`` any method. Errors the node answers raise :class:`RpcError` with its code and
message. Only the standard library is needed; ``key=`` (client-side signing) needs the
optional ``eth-account`` package.
"""

from . import client as _client
from .client import *  # noqa: F403  (the client's public names, listed in client.__all__)

__version__ = "0.1.0"

__all__ = [*_client.__all__, "__version__"]
