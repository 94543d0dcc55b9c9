"""The client: a node's JSON-RPC over HTTP, and its native apps as Python objects.

Every native app's methods are served as ``ir3_<app>_<method>``; ``node.<app>.<method>(...)``
calls them. Write methods take one object of fields with ``from``: in Python the keyword
``sender=`` is ``from``, snake_case keywords become camelCase fields (``interest_bps`` is
``interestBps``) and an ``amount`` given as an ``int`` is sent as a decimal string (amounts can
be larger than a JSON number holds).

A write is signed by the node when ``sender`` is one of its dev accounts (as
``eth_sendTransaction`` is), or locally with ``key=`` (needs the optional ``eth-account``
package) and sent with ``ir3_apps_submit``.

The peer apps of a gateway network (``node.reputation``, ``node.territory``,
``node.messaging``, ``node.compute``) act as the node itself: the node's peer key signs what
it declares, each declaration returns an intent id at once, and what the peers answered (YES,
NO with a reason, or silence) is read back later.

Only the standard library is used.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

__all__ = [
    "App",
    "Compute",
    "Error",
    "Eth",
    "Lending",
    "Messaging",
    "Money",
    "Node",
    "Reputation",
    "RpcError",
    "SigningUnavailable",
    "Territory",
    "TransportError",
    "WRITE_METHODS",
    "connect",
    "to_camel",
]

#: The write methods of each known app (each takes one object of fields with ``from``). A
#: method of another app is a write when it is called with ``sender=`` or ``key=``.
WRITE_METHODS: Dict[str, frozenset] = {
    "money": frozenset({"mint", "transfer"}),
    "lending": frozenset({"offer", "accept", "repay", "cancel"}),
}

#: Fields that are amounts: an ``int`` is sent as a decimal string (also any field ending in
#: ``Amount``).
AMOUNT_FIELDS = frozenset({"amount"})

#: Fields of an operation's message that the node (or the signer) sets.
RESERVED_FIELDS = frozenset({"app", "op", "from", "seq"})

JsonValue = Any
OpId = Union[str, Mapping[str, Any]]


class Error(Exception):
    """Base of this package's errors."""


class RpcError(Error):
    """A JSON-RPC error answered by the node.

    ``code`` is the node's error code: ``-32003`` when an operation breaks an app's rule
    (``mint_rejected: … is not the issuer``, ``insufficient balance: …``), ``-32602`` for
    invalid params, ``-32601`` for a method the node does not have. ``message`` is the node's
    message, ``data`` its optional ``data``.
    """

    def __init__(self, code: int, message: str, data: JsonValue = None) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.data = data

    def __str__(self) -> str:
        text = f"{self.message} (code {self.code})"
        if self.data is not None:
            text += f": {self.data}"
        return text

    def __repr__(self) -> str:
        return f"RpcError({self.code!r}, {self.message!r})"


class TransportError(Error, ConnectionError):
    """The node could not be reached, or answered something that is not JSON-RPC."""


class SigningUnavailable(Error, ImportError):
    """``key=`` was given but the ``eth-account`` package is not installed."""


def to_camel(name: str) -> str:
    """``interest_bps`` -> ``interestBps``; a name already in camelCase is kept."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _normalize_url(url: Union[str, int]) -> str:
    if isinstance(url, int):
        return f"http://127.0.0.1:{url}"
    url = url.strip()
    if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", url):
        url = "http://" + url
    return url


def _encode_field(name: str, value: Any) -> Any:
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and (name in AMOUNT_FIELDS or name.endswith("Amount"))
    ):
        return str(value)
    return value


def _fields(kwargs: Mapping[str, Any]) -> Dict[str, Any]:
    """Keyword arguments as an operation's fields (camelCase, amounts as strings)."""
    out: Dict[str, Any] = {}
    for key, value in kwargs.items():
        if value is None:
            continue
        name = to_camel(key)
        out[name] = _encode_field(name, value)
    return out


def _amount(value: Any) -> int:
    return int(value) if value is not None else 0


class Node:
    """A connection to one node's JSON-RPC endpoint (HTTP POST, JSON-RPC 2.0).

    ``node.money``, ``node.lending``, ``node.reputation``, ``node.territory``,
    ``node.messaging``, ``node.compute`` and ``node.eth`` are namespaces with documented
    methods; any other attribute is an app whose methods are mapped generically
    (``node.storage.list()`` calls ``ir3_storage_list``).
    """

    def __init__(self, url: Union[str, int] = "http://127.0.0.1:8545", timeout: float = 30.0) -> None:
        self.url = _normalize_url(url)
        self.timeout = timeout
        self._ids = itertools.count(1)
        self.money = Money(self)
        self.lending = Lending(self)
        self.reputation = Reputation(self)
        self.territory = Territory(self)
        self.messaging = Messaging(self)
        self.compute = Compute(self)
        self.apps = App(self, "apps")
        self.eth = Eth(self)

    def __repr__(self) -> str:
        return f"Node({self.url!r})"

    def __getattr__(self, name: str) -> "App":
        if name.startswith("_"):
            raise AttributeError(name)
        return App(self, name)

    # Transport.

    def _send(self, payload: Dict[str, Any]) -> Dict[str, Any]:
        """POSTs one JSON-RPC request and returns the decoded response object."""
        body = json.dumps(payload).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                decoded = json.loads(raw)
            except ValueError:
                raise TransportError(f"{self.url}: HTTP {error.code}: {raw[:200]!r}") from error
            if isinstance(decoded, dict) and "error" in decoded:
                return decoded
            raise TransportError(f"{self.url}: HTTP {error.code}") from error
        except (urllib.error.URLError, OSError) as error:
            raise TransportError(f"{self.url}: {error}") from error
        try:
            decoded = json.loads(raw)
        except ValueError as error:
            raise TransportError(f"{self.url}: not JSON: {raw[:200]!r}") from error
        if not isinstance(decoded, dict):
            raise TransportError(f"{self.url}: not a JSON-RPC response: {decoded!r}")
        return decoded

    def call(self, method: str, *params: JsonValue) -> JsonValue:
        """Calls a JSON-RPC method with positional params; returns its result.

        >>> node.call("eth_chainId")
        '0x539'

        Raises :class:`RpcError` with the node's code and message on an error.
        """
        return self._request(method, list(params))

    def call_named(self, method: str, **params: JsonValue) -> JsonValue:
        """Calls a JSON-RPC method with named params (a JSON object), keys as given."""
        return self._request(method, dict(params))

    def _request(self, method: str, params: Union[List[Any], Dict[str, Any]]) -> JsonValue:
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        response = self._send(payload)
        error = response.get("error")
        if error is not None:
            if isinstance(error, dict):
                raise RpcError(int(error.get("code", 0)), str(error.get("message", "")), error.get("data"))
            raise RpcError(0, str(error))
        if "result" not in response:
            raise TransportError(f"{self.url}: response without result: {response!r}")
        return response["result"]

    # The node.

    @property
    def accounts(self) -> List[str]:
        """The node's dev accounts (``eth_accounts``): the node signs their operations."""
        return list(self.call("eth_accounts"))

    def network_status(self) -> Dict[str, Any]:
        """The node's place in its gateway network (``ir3_networkStatus``): ``{peerId,
        gateway, gateways, majority, voting, epochMs, finalEpoch, members, …}``."""
        return self.call("ir3_networkStatus")

    @property
    def peer_id(self) -> str:
        """This node's libp2p peer id (``ir3_networkStatus()["peerId"]``): what other nodes
        name it by in messaging, reputation, territory and compute."""
        return str(self.network_status()["peerId"])

    @property
    def peer_count(self) -> int:
        """How many peers the node is connected to (``net_peerCount``)."""
        return int(self.call("net_peerCount"), 16)

    def next_seq(self, account: str) -> int:
        """The sequence of ``account``'s next operation (``ir3_apps_nextSeq``)."""
        return int(self.call("ir3_apps_nextSeq", account))

    def outcome(self, op_id: OpId) -> Optional[Dict[str, Any]]:
        """An operation's outcome so far (``ir3_apps_outcome``), ``None`` if not known yet.

        ``op_id`` is the operation's id or the receipt a write returned.
        """
        return self.call("ir3_apps_outcome", _op_id(op_id))

    def submit(self, message: str, signature: str) -> Dict[str, Any]:
        """Orders an operation signed elsewhere (``ir3_apps_submit``): the exact JSON
        ``message`` and its 65-byte EIP-191 ``signature`` (hex)."""
        return self.call("ir3_apps_submit", {"message": message, "signature": signature})

    def wait_final(self, op_id: OpId, timeout: float = 30.0, interval: float = 0.1) -> Dict[str, Any]:
        """Polls ``ir3_apps_outcome`` until the operation's epoch is final; returns the outcome.

        ``op_id`` is the operation's id or the receipt a write returned. Raises
        :class:`TimeoutError` when it is not final after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        op = _op_id(op_id)
        last: Optional[Dict[str, Any]] = None
        while True:
            last = self.outcome(op)
            if last is not None and last.get("isFinal"):
                return last
            if time.monotonic() >= deadline:
                raise TimeoutError(f"operation {op} not final after {timeout} s (outcome so far: {last})")
            time.sleep(interval)

    # Writes.

    def write(
        self,
        app: str,
        op: str,
        fields: Mapping[str, Any],
        sender: Optional[str] = None,
        key: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Sends operation ``op`` of ``app`` with ``fields`` (already camelCase).

        Without ``key`` the node signs for ``sender`` (one of its dev accounts) through
        ``ir3_<app>_<op>``. With ``key`` (a private key, hex) the operation is signed here
        (needs ``eth-account``) and sent with ``ir3_apps_submit``. Returns the receipt:
        ``{id, message, outcome}``.
        """
        fields = dict(fields)
        for name in RESERVED_FIELDS & set(fields):
            raise ValueError(f"field {name!r} is set by the signer (use sender= for 'from')")
        if key is not None:
            return self._write_signed(app, op, fields, sender, key)
        if sender is None:
            raise TypeError(f"{app}.{op} needs sender= (a dev account of the node) or key=")
        return self.call(f"ir3_{app}_{op}", {"from": sender, **fields})

    def _write_signed(
        self, app: str, op: str, fields: Dict[str, Any], sender: Optional[str], key: str
    ) -> Dict[str, Any]:
        signed = self.sign(app, op, fields, key=key, sender=sender)
        return self.submit(signed["message"], signed["signature"])

    def sign(
        self,
        app: str,
        op: str,
        fields: Mapping[str, Any],
        key: str,
        sender: Optional[str] = None,
        seq: Optional[int] = None,
    ) -> Dict[str, str]:
        """Signs operation ``op`` of ``app`` with ``key`` without sending it.

        ``fields`` are the operation's fields (camelCase, amounts as decimal strings; see
        :func:`to_camel`). ``seq`` defaults to the account's next sequence on this node
        (``ir3_apps_nextSeq``). Returns ``{message, signature}``, ready for :meth:`submit`
        on any gateway (``node.submit(**signed)``). Needs ``eth-account``.
        """
        try:
            from eth_account import Account
            from eth_account.messages import encode_defunct
        except ImportError as error:
            raise SigningUnavailable(
                "signing with key= needs the eth-account package (pip install eth-account, or "
                "pip install 'ir3[sign]'); without key= the node signs for its dev accounts"
            ) from error
        fields = dict(fields)
        for name in RESERVED_FIELDS & set(fields):
            raise ValueError(f"field {name!r} is set by the signer (use sender= for 'from')")
        address = str(Account.from_key(key).address).lower()
        if sender is not None and sender.lower() != address:
            raise ValueError(f"sender {sender} is not the key's address {address}")
        if app == "money" and op == "mint" and "to" not in fields:
            fields["to"] = address  # as the node does: a mint credits its minter by default
        if seq is None:
            seq = self.next_seq(address)
        message = json.dumps(
            {"app": app, "op": op, "from": address, "seq": int(seq), **fields}, separators=(",", ":")
        )
        signed = Account.sign_message(encode_defunct(text=message), private_key=key)
        signature = signed.signature
        text = signature.hex() if isinstance(signature, (bytes, bytearray)) else str(signature)
        if not text.startswith("0x"):
            text = "0x" + text
        return {"message": message, "signature": text}


def _op_id(op_id: OpId) -> str:
    if isinstance(op_id, Mapping):
        return str(op_id["id"])
    return str(op_id)


class App:
    """One app's methods: ``app.<method>(...)`` calls ``<prefix><camelCaseMethod>``.

    - A write (a method of :data:`WRITE_METHODS`, or any call with ``sender=`` or ``key=``)
      sends one object: keyword arguments as camelCase fields, ``sender`` as ``from``, int
      amounts as decimal strings. A dict given positionally is merged into the fields.
    - A read sends its positional arguments as they are (``node.reputation.query(node_id)``),
      or, given keyword arguments only, named params (a JSON object, camelCase keys).
    """

    def __init__(self, node: Node, name: str, prefix: Optional[str] = None) -> None:
        self._node = node
        self._name = name
        self._prefix = prefix if prefix is not None else f"ir3_{name}_"

    def __repr__(self) -> str:
        return f"<app {self._name} of {self._node.url}>"

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)
        return self._method(method)

    def _method(self, method: str) -> Callable[..., Any]:
        rpc_name = to_camel(method)
        writes = WRITE_METHODS.get(self._name, frozenset())

        def call(*args: Any, **kwargs: Any) -> Any:
            if rpc_name in writes or "sender" in kwargs or "key" in kwargs:
                sender = kwargs.pop("sender", None)
                key = kwargs.pop("key", None)
                fields: Dict[str, Any] = {}
                for arg in args:
                    if not isinstance(arg, Mapping):
                        raise TypeError(
                            f"{self._name}.{method} is a write: give its fields as keywords"
                        )
                    fields.update(arg)
                fields.update(_fields(kwargs))
                return self._node.write(self._name, rpc_name, fields, sender=sender, key=key)
            if kwargs and args:
                raise TypeError(
                    f"{self._name}.{method}: give params either by position or by name, not both"
                )
            if kwargs:
                return self._node.call_named(
                    self._prefix + rpc_name, **{to_camel(k): v for k, v in kwargs.items()}
                )
            return self._node.call(self._prefix + rpc_name, *args)

        call.__name__ = method
        call.__qualname__ = f"{type(self).__name__}.{method}"
        call.__doc__ = f"Calls {self._prefix}{rpc_name} (generic mapping)."
        return call


class Money(App):
    """The money app: currencies with an issuer, mints and transfers (``ir3_money_*``).

    Amounts are Python ints here (the node sends decimal strings).
    """

    def __init__(self, node: Node) -> None:
        super().__init__(node, "money")

    def mint(
        self,
        currency: str,
        amount: int,
        sender: Optional[str] = None,
        to: Optional[str] = None,
        key: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Mints ``amount`` of ``currency`` to ``to`` (default: the minter).

        The first account that mints a currency becomes its issuer; afterwards a mint by
        another account raises :class:`RpcError` ``-32003`` (``mint_rejected: …``). Returns the
        receipt ``{id, message, outcome}``.
        """
        return self._node.write(
            "money", "mint", _fields({"currency": currency, "to": to, "amount": amount}), sender, key
        )

    def transfer(
        self,
        currency: str,
        to: str,
        amount: int,
        sender: Optional[str] = None,
        key: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Moves ``amount`` of ``currency`` from ``sender`` to ``to``.

        Raises :class:`RpcError` ``-32003`` (``insufficient balance: …``) when the sender holds
        less. Returns the receipt ``{id, message, outcome}``.
        """
        return self._node.write(
            "money", "transfer", _fields({"currency": currency, "to": to, "amount": amount}), sender, key
        )

    def balance(self, account: str, currency: str, at_epoch: Optional[int] = None) -> int:
        """What ``account`` holds of ``currency``: now, or as of the end of epoch ``at_epoch``."""
        params: List[Any] = [account, currency]
        if at_epoch is not None:
            params.append(at_epoch)
        return int(self._node.call("ir3_money_balance", *params))

    def balances(self, account: str) -> Dict[str, int]:
        """Every balance of ``account``: ``{currency: amount}`` (zero balances left out)."""
        result = self._node.call("ir3_money_balances", account)
        return {name: int(amount) for name, amount in result.items()}

    def currencies(self) -> List[Dict[str, Any]]:
        """The currencies: ``[{name, issuer, supply}]`` (``supply`` an int)."""
        out = []
        for currency in self._node.call("ir3_money_currencies"):
            currency = dict(currency)
            currency["supply"] = _amount(currency.get("supply"))
            out.append(currency)
        return out


class Lending(App):
    """The lending app: loans in a money currency, with interest and a deadline
    (``ir3_lending_*``).

    A loan's id is the id of its offer's operation (``receipt["id"]``). Repaying costs
    ``amount + amount * interest_bps // 10000``.
    """

    def __init__(self, node: Node) -> None:
        super().__init__(node, "lending")

    def offer(
        self,
        currency: str,
        amount: int,
        duration_ms: int,
        interest_bps: int = 0,
        sender: Optional[str] = None,
        key: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Offers a loan: ``amount`` of ``currency`` moves from ``sender`` into escrow.

        ``interest_bps`` is the interest in basis points (at most 10000), ``duration_ms`` how
        long the borrower has from acceptance. Returns the receipt; its ``id`` is the loan's.
        """
        fields = _fields(
            {"currency": currency, "amount": amount, "interest_bps": int(interest_bps), "duration_ms": int(duration_ms)}
        )
        return self._node.write("lending", "offer", fields, sender, key)

    def accept(self, loan: OpId, sender: Optional[str] = None, key: Optional[str] = None) -> Dict[str, Any]:
        """Borrows an offered loan (not one's own): the escrowed funds move to ``sender``."""
        return self._node.write("lending", "accept", {"loan": _op_id(loan)}, sender, key)

    def repay(self, loan: OpId, sender: Optional[str] = None, key: Optional[str] = None) -> Dict[str, Any]:
        """Repays an active loan (the borrower only): amount plus interest go to the lender."""
        return self._node.write("lending", "repay", {"loan": _op_id(loan)}, sender, key)

    def cancel(self, loan: OpId, sender: Optional[str] = None, key: Optional[str] = None) -> Dict[str, Any]:
        """Takes back an offer nobody accepted (the lender only)."""
        return self._node.write("lending", "cancel", {"loan": _op_id(loan)}, sender, key)

    def loans(self) -> List[Dict[str, Any]]:
        """The loans as they stand: ``[{id, lender, borrower, currency, amount, interestBps,
        durationMs, deadlineMs, status}]`` (``amount`` an int; ``status`` one of offered,
        cancelled, active, repaid, defaulted)."""
        out = []
        for loan in self._node.call("ir3_lending_loans"):
            loan = dict(loan)
            loan["amount"] = _amount(loan.get("amount"))
            out.append(loan)
        return out

    def loan(self, loan_id: OpId) -> Optional[Dict[str, Any]]:
        """One loan by id (from :meth:`loans`), ``None`` if there is none."""
        wanted = _op_id(loan_id).lower()
        for loan in self.loans():
            if str(loan.get("id", "")).lower() == wanted:
                return loan
        return None


def _hex(value: Union[str, bytes, bytearray]) -> str:
    """Bytes, or a hex string with or without ``0x``, as ``0x``-prefixed hex."""
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    text = str(value)
    return text if text.startswith(("0x", "0X")) else "0x" + text


class Reputation(App):
    """The reputation app (network mode): how each peer behaved, from the node's own record
    (``ir3_reputation_*``).

    A reputation is ``{node, seat, yes, no, silence, refused, votesAgreed, votesDisagreed,
    responsiveness, agreement, honesty, score}``: ``node`` the peer id, ``seat`` its number in
    the gateway set (``None`` until known), ``yes``/``no``/``silence`` how it answered this
    node's intents, ``refused`` how often it refused, ``votesAgreed``/``votesDisagreed`` its
    epoch votes against the final ones, and ``responsiveness``, ``agreement``, ``honesty`` and
    ``score`` in ``[0, 1]``. Territory and compute weigh peers by their ``score``.
    """

    def __init__(self, node: Node) -> None:
        super().__init__(node, "reputation")

    def query(self, node: str) -> Dict[str, Any]:
        """One peer's reputation, by peer id (``ir3_reputation_query``); a peer nothing is
        known about gets neutral components."""
        return self._node.call("ir3_reputation_query", node)

    def list(self) -> List[Dict[str, Any]]:
        """The reputation of every known peer (``ir3_reputation_list``)."""
        return self._node.call("ir3_reputation_list")


class Territory(App):
    """The territory app (network mode): observations of locations, agreed on with a
    reputation-weighted consensus (``ir3_territory_*``)."""

    def __init__(self, node: Node) -> None:
        super().__init__(node, "territory")

    def observe(self, location: str, value: float, sender: Optional[str] = None) -> bool:
        """Records this node's observation ``value`` of ``location`` (what it answers peers
        that want it), signed by the dev account ``sender`` if given (peers then see which
        account observed it). Returns ``True``."""
        params: List[Any] = [location, float(value)]
        if sender is not None:
            params.append(sender)
        return self._node.call("ir3_territory_observe", *params)

    def want(self, location: str) -> str:
        """Asks the peers for their observations of ``location``; returns the intent id.
        Read what came back with :meth:`consensus`."""
        return self._node.call("ir3_territory_want", location)

    def consensus(self, location: str) -> Dict[str, Any]:
        """The consensus on ``location`` so far: ``{location, intent, value, median,
        contributors: [{peer, value, weight}], refused: [{peer, reason, retryAfterMs}],
        silent: [peer ids]}``.

        ``value`` is the reputation-weighted mean of the contributors' values, ``median`` their
        median (both ``None`` without contributors); this node's own observation appears as
        peer ``"self"``. Peers that did not answer the want are ``silent``.
        """
        return self._node.call("ir3_territory_consensus", location)


class Messaging(App):
    """The messaging app (network mode): direct messages with delivery receipts, topics and
    blocking (``ir3_messaging_*``).

    A message is identified by its intent id; its receipts say which peers answered YES
    (delivered), NO (refused, e.g. ``"blocked sender"``) or stayed silent.
    """

    def __init__(self, node: Node) -> None:
        super().__init__(node, "messaging")

    def send(self, to: str, text: str, sender: Optional[str] = None) -> str:
        """Sends ``text`` to the peer ``to`` (a peer id), signed by the dev account ``sender``
        if given (the receiver checks the signature and shows the account in its inbox);
        returns the intent id. The peer's YES is the delivery receipt (see :meth:`receipts`)."""
        params: List[Any] = [to, text]
        if sender is not None:
            params.append(sender)
        return self._node.call("ir3_messaging_send", *params)

    def broadcast(self, topic: str, text: str, sender: Optional[str] = None) -> str:
        """Broadcasts ``text`` on ``topic`` (signed by ``sender`` if given); returns the intent
        id. Followers of the topic answer YES, the other peers stay silent."""
        params: List[Any] = [topic, text]
        if sender is not None:
            params.append(sender)
        return self._node.call("ir3_messaging_broadcast", *params)

    def follow(self, topic: str) -> bool:
        """Follows ``topic``: its broadcasts reach this node's inbox."""
        return self._node.call("ir3_messaging_follow", topic)

    def unfollow(self, topic: str) -> bool:
        """Stops following ``topic``."""
        return self._node.call("ir3_messaging_unfollow", topic)

    def block(self, peer: str) -> bool:
        """Blocks the sender ``peer``: its messages are answered NO (``"blocked sender"``)."""
        return self._node.call("ir3_messaging_block", peer)

    def unblock(self, peer: str) -> bool:
        """Unblocks the sender ``peer``."""
        return self._node.call("ir3_messaging_unblock", peer)

    def inbox(self) -> List[Dict[str, Any]]:
        """The messages received, oldest first: ``[{from, topic, text, atMs}]`` (``topic`` is
        ``None`` for a direct message, ``atMs`` the arrival time in Unix milliseconds)."""
        return self._node.call("ir3_messaging_inbox")

    def receipts(self, message_id: str) -> Optional[Dict[str, Any]]:
        """The receipts of a message sent by this node: ``{app, kind, expected, yes: [peer
        ids], no: [{peer, reason, retryAfterMs}], silence: [peer ids], …}``, or ``None`` when
        the node knows no such message."""
        return self._node.call("ir3_messaging_receipts", message_id)


class Compute(App):
    """The compute app (network mode): EVM bytecode run by the peers, with ``eth_call``
    semantics at a scratch address, and their results compared (``ir3_compute_*``)."""

    def __init__(self, node: Node) -> None:
        super().__init__(node, "compute")

    def call(
        self, code: Union[str, bytes], data: Optional[Union[str, bytes]] = None
    ) -> str:
        """Asks the peers to run ``code`` (bytecode, hex or bytes) with calldata ``data``;
        returns the intent id. Read the results with :meth:`result`."""
        if data is None:
            return self._node.call("ir3_compute_call", _hex(code))
        return self._node.call("ir3_compute_call", _hex(code), _hex(data))

    def result(self, call_id: str) -> Dict[str, Any]:
        """A compute call's report so far: ``{intent, status, result, results, running,
        refused, silent}``.

        ``status`` is ``"agree"``, ``"disagree"`` or ``"pending"``; ``result`` the weighted
        majority's output, ``{"Ok": "0x…"}`` or ``{"Err": "…"}`` (``None`` while pending);
        ``results`` every distinct output with the peers that gave it and their total weight:
        ``[{output, peers, weight}]``.
        """
        return self._node.call("ir3_compute_result", call_id)

    def run(
        self,
        code: Union[str, bytes],
        data: Optional[Union[str, bytes]] = None,
        peers: Optional[int] = None,
        timeout: float = 30.0,
        interval: float = 0.1,
    ) -> Dict[str, Any]:
        """Calls ``code`` on the peers and waits for their results; returns the report (as
        :meth:`result`).

        It polls until ``peers`` peers answered (default: every peer the node is connected
        to, ``net_peerCount``), or until every peer it waits for answered, refused or stayed
        silent. Raises :class:`TimeoutError` after ``timeout`` seconds.
        """
        wanted = self._node.peer_count if peers is None else int(peers)
        call_id = self.call(code, data)
        deadline = time.monotonic() + timeout
        while True:
            report = self.result(call_id)
            answered = sum(len(r.get("peers") or ()) for r in report.get("results") or ())
            settled = answered + len(report.get("refused") or ()) + len(report.get("silent") or ())
            if answered >= wanted or settled >= wanted:
                return report
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"compute call {call_id}: {answered} of {wanted} results after {timeout} s "
                    f"(report so far: {report})"
                )
            time.sleep(interval)


class Eth(App):
    """The ``eth_*`` methods: ``node.eth.block_number()``, ``node.eth.chain_id()``, and any
    other by the generic mapping (``node.eth.get_balance(a, "latest")`` calls
    ``eth_getBalance``)."""

    def __init__(self, node: Node) -> None:
        super().__init__(node, "eth", prefix="eth_")

    def block_number(self) -> int:
        """The latest block's number (``eth_blockNumber``)."""
        return int(self._node.call("eth_blockNumber"), 16)

    def chain_id(self) -> int:
        """The chain id (``eth_chainId``)."""
        return int(self._node.call("eth_chainId"), 16)


def connect(url: Union[str, int] = "http://127.0.0.1:8545", timeout: float = 30.0) -> Node:
    """A client of the node at ``url``: ``"localhost:8545"``, ``"http://host:port"`` or a port.

    No request is made until the first call.
    """
    return Node(url, timeout=timeout)
