"""Tests of the ``ir3`` client against a three-gateway loopback network.

Every native app is driven end to end through the client, including the ones that need peers:
messaging (delivery receipts, a blocked sender's NO, topics), territory (a reputation-weighted
consensus), compute (bytecode run on the peers), reputation, and money and lending operations
sent to different gateways (with a double spend sent to two gateways at once).

The class starts its own network (binary from ``IR3_BIN``, default
``<repo>/target/debug/ir3``) on 127.0.0.150-152 with temporary data directories and kills it
at the end. Run from the repository root:

    IR3_BIN=target/debug/ir3 python -m unittest discover -s python/tests -v
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, TypeVar

import ir3

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pure_eth_account  # noqa: E402
from nodeproc import ProcessBase, free_port  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BIN = os.environ.get("IR3_BIN") or str(REPO / "target" / "debug" / "ir3")

#: Loopback addresses of the gateways (the Rust tests use 127.0.0.10-70).
FIRST_HOST = 150
GATEWAYS = 3
#: A pure function: returns 42 as one 32-byte word.
RETURN_42 = "0x602a60005260206000f3"
#: Returns its calldata (CALLDATACOPY it to memory, RETURN it).
ECHO = "0x366000600037366000f3"
#: Reverts with no data.
REVERT = "0x60006000fd"

T = TypeVar("T")
_names = itertools.count()
_run = f"{os.getpid() % 100000}x{int(time.time()) % 100000}"


def unique(prefix: str) -> str:
    """A name (currency, topic, location, message text) no other test uses.

    Identical messages from one node share an intent id, so every text is made unique too.
    """
    return f"{prefix}{_run}X{next(_names)}"


def wait_until(what: str, check: Callable[[], T], timeout: float = 20.0, interval: float = 0.1) -> T:
    """Polls ``check`` until it returns something truthy; returns it."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except ir3.TransportError as error:
            last = error
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
        time.sleep(interval)


class Gateway(ProcessBase):
    """One gateway's process."""

    def __init__(self, index: int, host: str, data_dir: str) -> None:
        self.index = index
        self.host = host
        self.data_dir = data_dir
        self.log = data_dir + ".log"
        self.rpc_port = free_port(host)
        self.p2p_port = free_port(host)
        self.consensus_port = free_port(host)
        self.process: Optional[subprocess.Popen] = None
        self.node = ir3.connect(f"{host}:{self.rpc_port}", timeout=10)

    def start(self, peers: List["Gateway"], network: str) -> None:
        args = [
            os.path.abspath(BIN),
            "--host", self.host,
            "--port", str(self.rpc_port),
            "--p2p-port", str(self.p2p_port),
            "--consensus-port", str(self.consensus_port),
            "--network", os.path.join(network, "network.json"),
            "--key", os.path.join(network, f"gateway-{self.index}.key.json"),
            "--node-id", f"gateway-{self.index}",
            "--data-dir", self.data_dir,
        ]
        for peer in peers:
            if peer is not self:
                args += ["--bootstrap", f"{peer.host}:{peer.p2p_port}"]
                args += ["--consensus-peer", f"{peer.host}:{peer.consensus_port}"]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )


class NetworkAppsTest(unittest.TestCase):
    """Three gateways on loopback, started once for the class."""

    gateways: List[Gateway]
    nodes: List[ir3.Node]
    ids: List[str]
    accounts: List[str]

    @classmethod
    def setUpClass(cls) -> None:
        binary = os.path.abspath(BIN)
        if not os.path.exists(binary):
            message = f"no node binary at {binary} (cargo build -p ir3, or set IR3_BIN)"
            if os.environ.get("IR3_BIN"):
                raise RuntimeError(message)
            raise unittest.SkipTest(message)
        hosts = [f"127.0.0.{FIRST_HOST + i}" for i in range(GATEWAYS)]
        try:
            for host in hosts:
                free_port(host)
        except OSError as error:  # only 127.0.0.1 on this machine
            raise unittest.SkipTest(f"cannot bind {hosts}: {error}")
        cls.tmp = tempfile.mkdtemp(prefix="ir3-py-net-")
        # The network: one key per gateway and the file every gateway is started with.
        network = os.path.join(cls.tmp, "net")
        subprocess.run(
            [binary, "network", "init", "--gateways", str(GATEWAYS), "--out", network],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        cls.gateways = [Gateway(i, h, os.path.join(cls.tmp, f"gw{i}")) for i, h in enumerate(hosts)]
        try:
            for gateway in cls.gateways:
                gateway.start(cls.gateways, network)
            cls.nodes = [g.node for g in cls.gateways]

            def meshed() -> bool:
                for gateway in cls.gateways:
                    assert gateway.process is not None
                    if gateway.process.poll() is not None:
                        raise RuntimeError(f"gateway {gateway.index} exited: {gateway.tail()}")
                return all(n.peer_count == GATEWAYS - 1 for n in cls.nodes)

            wait_until("the full mesh", meshed, timeout=60)
            cls.ids = [n.peer_id for n in cls.nodes]
            cls.accounts = cls.nodes[0].accounts
        except BaseException:
            cls._stop()
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        cls._stop()

    @classmethod
    def _stop(cls) -> None:
        for gateway in getattr(cls, "gateways", []):
            gateway.kill()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def wait_final_everywhere(self, op: Any) -> List[Dict[str, Any]]:
        """``wait_final`` on every gateway; returns the final outcomes."""
        return [node.wait_final(op, timeout=30) for node in self.nodes]

    # The network.

    def test_peer_ids(self) -> None:
        self.assertEqual(len(set(self.ids)), GATEWAYS)
        for node, peer_id in zip(self.nodes, self.ids):
            self.assertTrue(peer_id.startswith("12D3KooW"), peer_id)
            status = node.network_status()
            self.assertEqual(status["peerId"], peer_id)
            self.assertEqual(status["gateways"], GATEWAYS)
            self.assertEqual(node.peer_count, GATEWAYS - 1)
        self.assertEqual([self.nodes[i].network_status()["gateway"] for i in range(GATEWAYS)], [0, 1, 2])

    # Messaging.

    def test_messaging_receipt_and_inbox(self) -> None:
        n0, n1 = self.nodes[0], self.nodes[1]
        text = unique("hello gateway 1 ")
        sent = n0.messaging.send(self.ids[1], text)
        self.assertTrue(sent.startswith("0x") and len(sent) == 66, sent)
        receipts = wait_until(
            "the delivery receipt",
            lambda: (r := n0.messaging.receipts(sent)) is not None and r["yes"] == [self.ids[1]] and r,
        )
        self.assertEqual(receipts["app"], "messaging")
        self.assertEqual(receipts["expected"], [self.ids[1]])
        self.assertEqual(receipts["no"], [])
        mine = [m for m in n1.messaging.inbox() if m["text"] == text]
        self.assertEqual(len(mine), 1, n1.messaging.inbox())
        self.assertEqual(mine[0]["from"], self.ids[0])
        self.assertIsNone(mine[0]["topic"])
        self.assertIsInstance(mine[0]["atMs"], int)
        self.assertEqual([m for m in n0.messaging.inbox() if m["text"] == text], [])
        self.assertIsNone(n0.messaging.receipts("0x" + "00" * 32))
        with self.assertRaises(ir3.RpcError) as caught:
            n0.messaging.send("not a peer id", "x")
        self.assertEqual(caught.exception.code, -32602)

    def test_messaging_signed_by_an_account(self) -> None:
        n0, n1 = self.nodes[0], self.nodes[1]
        account = n0.accounts[2]
        text = unique("signed ")
        sent = n0.messaging.send(self.ids[1], text, sender=account)
        wait_until(
            "the signed message's receipt",
            lambda: (r := n0.messaging.receipts(sent)) is not None and r["yes"] == [self.ids[1]],
        )
        mine = [m for m in n1.messaging.inbox() if m["text"] == text]
        self.assertEqual(mine[0]["account"], account.lower())
        with self.assertRaises(ir3.RpcError) as caught:
            n0.messaging.send(self.ids[1], "x", sender="0x000000000000000000000000000000000000dEaD")
        self.assertEqual(caught.exception.code, -32602)

    def test_messaging_blocked_sender(self) -> None:
        n1, n2 = self.nodes[1], self.nodes[2]
        self.assertIs(n2.messaging.block(self.ids[1]), True)
        try:
            text = unique("are you there? ")
            blocked = n1.messaging.send(self.ids[2], text)

            def refused() -> Optional[Dict[str, Any]]:
                r = n1.messaging.receipts(blocked)
                return r if r and r["no"] else None

            receipts = wait_until("the refusal", refused)
            self.assertEqual([n["peer"] for n in receipts["no"]], [self.ids[2]], receipts)
            self.assertEqual(receipts["no"][0]["reason"], "blocked sender", receipts)
            self.assertEqual(receipts["yes"], [])
            self.assertEqual([m for m in n2.messaging.inbox() if m["text"] == text], [])
        finally:
            self.assertIs(n2.messaging.unblock(self.ids[1]), True)
        # Unblocked: delivered again.
        text = unique("back again ")
        sent = n1.messaging.send(self.ids[2], text)
        wait_until(
            "the delivery after unblock",
            lambda: (r := n1.messaging.receipts(sent)) is not None and r["yes"] == [self.ids[2]],
        )
        self.assertEqual(len([m for m in n2.messaging.inbox() if m["text"] == text]), 1)

    def test_messaging_topic(self) -> None:
        n0, n1, n2 = self.nodes
        topic = unique("news")
        self.assertIs(n2.messaging.follow(topic), True)
        first = n0.messaging.broadcast(topic, unique("epoch done "))
        wait_until(
            "the follower's YES",
            lambda: (r := n0.messaging.receipts(first)) is not None and r["yes"] == [self.ids[2]],
        )
        # After unfollowing, a broadcast reaches nobody.
        self.assertIs(n2.messaging.unfollow(topic), True)
        second = n0.messaging.broadcast(topic, unique("anyone? "))

        def settled() -> bool:
            a, b = n0.messaging.receipts(first), n0.messaging.receipts(second)
            return bool(a and b and a["silence"] and len(b["silence"]) == 2)

        wait_until("the silences", settled, timeout=25)
        a, b = n0.messaging.receipts(first), n0.messaging.receipts(second)
        assert a is not None and b is not None
        self.assertEqual((a["yes"], a["silence"], a["no"]), ([self.ids[2]], [self.ids[1]], []), a)
        self.assertEqual(b["yes"], [], b)
        self.assertEqual(sorted(b["silence"]), sorted(self.ids[1:]), b)
        on_topic = [m for m in n2.messaging.inbox() if m["topic"] == topic]
        self.assertEqual(len(on_topic), 1, on_topic)
        self.assertEqual(on_topic[0]["from"], self.ids[0])
        self.assertEqual([m for m in n1.messaging.inbox() if m["topic"] == topic], [])

    # Territory.

    def test_territory_consensus(self) -> None:
        n0, n1, _ = self.nodes
        everywhere, only_one = unique("paris"), unique("rome")
        for node, value in zip(self.nodes, [21.0, 20.0, 22.0]):
            self.assertIs(node.territory.observe(everywhere, value), True)
        n1.territory.observe(only_one, 30)
        mine = n0.territory.consensus(everywhere)  # before any want: this node only
        self.assertEqual(mine["contributors"], [{"peer": "self", "account": None, "value": 21.0, "weight": 1.0}])
        self.assertIsNone(mine["intent"])
        want = n0.territory.want(everywhere)
        n0.territory.want(only_one)

        def gathered() -> bool:
            a, b = n0.territory.consensus(everywhere), n0.territory.consensus(only_one)
            return len(a["contributors"]) == 3 and len(b["contributors"]) == 1 and b["silent"] == [self.ids[2]]

        wait_until("the observations", gathered, timeout=25)
        paris = n0.territory.consensus(everywhere)
        self.assertEqual(paris["location"], everywhere)
        self.assertEqual(paris["intent"], want)
        self.assertEqual(paris["median"], 21.0, paris)
        self.assertTrue(20.0 <= paris["value"] <= 22.0, paris)
        self.assertEqual(
            sorted((c["peer"], c["value"]) for c in paris["contributors"]),
            sorted([("self", 21.0), (self.ids[1], 20.0), (self.ids[2], 22.0)]),
        )
        self.assertTrue(all(0 < c["weight"] <= 1 for c in paris["contributors"]), paris)
        self.assertEqual(paris["silent"], [])
        rome = n0.territory.consensus(only_one)
        self.assertAlmostEqual(rome["value"], 30.0)
        self.assertEqual(rome["contributors"][0]["peer"], self.ids[1])
        self.assertEqual(rome["refused"], [])
        nowhere = n0.territory.consensus(unique("nowhere"))
        self.assertEqual((nowhere["value"], nowhere["median"], nowhere["contributors"]), (None, None, []))

    # Compute.

    def test_compute_agrees(self) -> None:
        n0 = self.nodes[0]
        report = n0.compute.run(RETURN_42, timeout=20)
        self.assertEqual(report["status"], "agree", report)
        self.assertEqual(report["result"], {"Ok": "0x" + "00" * 31 + "2a"}, report)
        self.assertEqual(len(report["results"]), 1, report)
        self.assertEqual(sorted(report["results"][0]["peers"]), sorted(self.ids[1:]), report)
        self.assertGreater(report["results"][0]["weight"], 0)
        self.assertEqual(n0.compute.result(report["intent"])["result"], report["result"])
        # With calldata, and given as bytes.
        echo = n0.compute.run(bytes.fromhex(ECHO[2:]), data=b"\xde\xad\xbe\xef" + secrets.token_bytes(4))
        self.assertEqual(echo["status"], "agree", echo)
        self.assertTrue(echo["result"]["Ok"].startswith("0xdeadbeef"), echo)
        self.assertEqual(len(echo["result"]["Ok"]), 2 + 16, echo)
        # A revert is an agreed error.
        reverted = n0.compute.run(REVERT, peers=2)
        self.assertEqual(reverted["status"], "agree", reverted)
        self.assertIn("Err", reverted["result"], reverted)
        self.assertIn("revert", reverted["result"]["Err"])
        # The two steps by hand.
        call = n0.compute.call(RETURN_42, "0x" + secrets.token_hex(4))
        wait_until("both results", lambda: sum(len(r["peers"]) for r in n0.compute.result(call)["results"]) == 2)
        self.assertEqual(n0.compute.result(call)["result"], report["result"])
        pending = n0.compute.result("0x" + "00" * 32)
        self.assertEqual((pending["status"], pending["result"], pending["results"]), ("pending", None, []))
        with self.assertRaises(ir3.RpcError) as caught:
            n0.compute.call("0xzz")
        self.assertEqual(caught.exception.code, -32602)

    # Reputation.

    def test_reputation(self) -> None:
        n0, n1, _ = self.nodes
        # Gateway 1 answers one of gateway 0's intents, and votes on the epoch of a mint.
        sent = n0.messaging.send(self.ids[1], unique("ping "))
        wait_until("the YES", lambda: (r := n0.messaging.receipts(sent)) is not None and r["yes"])
        mint = n1.money.mint(currency=unique("REP"), amount=1, sender=self.accounts[4])
        n0.wait_final(mint, timeout=30)

        def voted() -> Optional[Dict[str, Any]]:
            r = n0.reputation.query(self.ids[1])
            return r if r["votesAgreed"] > 0 and r["yes"] > 0 and r["seat"] is not None else None

        reputation = wait_until("gateway 1's votes", voted)
        self.assertEqual(reputation["node"], self.ids[1])
        self.assertEqual(reputation["seat"], 1, reputation)
        self.assertEqual(reputation["votesDisagreed"], 0, reputation)
        self.assertTrue(0.5 < reputation["score"] <= 1.0, reputation)
        for component in ("responsiveness", "agreement", "honesty"):
            self.assertTrue(0.0 <= reputation[component] <= 1.0, reputation)
        listed = {r["node"]: r for r in n0.reputation.list()}
        # Every peer; the node itself may be listed too once its own votes are counted.
        self.assertLessEqual(set(self.ids[1:]), set(listed), listed)
        self.assertLessEqual(set(listed), set(self.ids), listed)
        self.assertEqual(listed[self.ids[1]]["seat"], 1)
        # Named params reach the same method (the generic fallback's keyword form).
        self.assertEqual(n0.call_named("ir3_reputation_query", node=self.ids[2])["node"], self.ids[2])
        unknown = n0.reputation.query("12D3KooWnobody")
        self.assertEqual((unknown["yes"], unknown["seat"]), (0, None))
        self.assertAlmostEqual(unknown["score"], 0.5 * 0.4 + 0.5 * 0.4 + 0.2)

    # Money and lending across gateways.

    def test_money_converges(self) -> None:
        n0, n1, _ = self.nodes
        gold = unique("G")
        alice, bob = self.accounts[2], self.accounts[3]
        mint = n0.money.mint(currency=gold, amount=1000, sender=alice)
        self.assertEqual(mint["outcome"]["status"], "mint_accepted")
        for outcome in self.wait_final_everywhere(mint):
            self.assertEqual(outcome["status"], "mint_accepted")
        # Another gateway knows the issuer now.
        with self.assertRaises(ir3.RpcError) as caught:
            n1.money.mint(currency=gold, amount=5, sender=bob)
        self.assertEqual(caught.exception.code, -32003)
        transfer = n1.money.transfer(currency=gold, to=bob, amount=300, sender=alice)
        self.assertEqual(transfer["outcome"]["status"], "transfer_accepted")
        for outcome in self.wait_final_everywhere(transfer):
            self.assertEqual(outcome["status"], "transfer_accepted")
            self.assertTrue(outcome["isFinal"])
        for node in self.nodes:
            self.assertEqual(node.money.balance(alice, gold), 700)
            self.assertEqual(node.money.balance(bob, gold), 300)
            self.assertEqual(node.money.balances(bob), n0.money.balances(bob))
            self.assertEqual(
                [c for c in node.money.currencies() if c["name"] == gold],
                [{"name": gold, "issuer": alice.lower(), "supply": 1000}],
            )
            self.assertEqual(node.money.balance(alice, gold, at_epoch=mint["outcome"]["epoch"]), 1000)

    def test_lending_across_gateways(self) -> None:
        n0, _, n2 = self.nodes
        gold = unique("L")
        lender, borrower = self.accounts[6], self.accounts[7]
        self.wait_final_everywhere(n0.money.mint(currency=gold, amount=500, sender=lender))
        offer = n2.lending.offer(currency=gold, amount=100, interest_bps=1000, duration_ms=600_000, sender=lender)
        self.wait_final_everywhere(offer)
        accept = n0.lending.accept(loan=offer, sender=borrower)
        self.assertEqual(accept["outcome"]["status"], "accept_accepted")
        self.wait_final_everywhere(accept)
        loans = n0.lending.loan(offer["id"])
        assert loans is not None
        self.assertEqual(loans["status"], "active")
        for node in self.nodes:
            self.assertEqual(node.lending.loan(offer["id"]), loans)
            self.assertEqual(node.money.balance(borrower, gold), 100)
            self.assertEqual(node.money.balance(lender, gold), 400)

    def test_double_spend(self) -> None:
        n0, n1, _ = self.nodes
        gold = unique("D")
        saved = {k: sys.modules.get(k) for k in ("eth_account", "eth_account.messages")}
        pure_eth_account.install()
        try:
            key = "0x" + secrets.token_hex(32)
            spender = pure_eth_account.address_of(key).lower()
            c, d = self.accounts[8], self.accounts[9]
            self.wait_final_everywhere(n0.money.mint(currency=gold, amount=700, to=spender, sender=self.accounts[5]))
            seq = n0.next_seq(spender)
            self.assertEqual(seq, n1.next_seq(spender))
            # Two spends of the whole balance with the same seq, signed here.
            spends = [
                n0.sign("money", "transfer", {"currency": gold, "to": to, "amount": "700"}, key=key, seq=seq)
                for to in (c, d)
            ]
        finally:
            for name, module in saved.items():
                if module is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = module
        results: List[Any] = [None, None]
        barrier = threading.Barrier(2)

        def submit(i: int, node: ir3.Node) -> None:
            barrier.wait()
            try:
                results[i] = node.submit(**spends[i])
            except ir3.RpcError as error:
                results[i] = error

        threads = [threading.Thread(target=submit, args=(i, node)) for i, node in enumerate((n0, n1))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        accepted = [r for r in results if isinstance(r, dict)]
        self.assertTrue(accepted, f"both spends refused: {results}")
        for r in results:
            if isinstance(r, ir3.RpcError):
                self.assertEqual(r.code, -32003, r)
        for receipt in accepted:
            self.wait_final_everywhere(receipt)
        for node in self.nodes:
            statuses = [node.outcome(r)["status"] for r in accepted]
            self.assertEqual(statuses.count("transfer_accepted"), 1, statuses)
        reference = [n0.money.balance(a, gold) for a in (spender, c, d)]
        self.assertEqual(reference[0], 0)
        self.assertEqual(sorted(reference[1:]), [0, 700])
        winner = c if reference[1] == 700 else d
        winning = [r for r in accepted if node_status(n0, r) == "transfer_accepted"][0]
        self.assertIn(f'"to":"{winner.lower()}"', winning["message"].lower())
        for node in self.nodes[1:]:
            self.assertEqual([node.money.balance(a, gold) for a in (spender, c, d)], reference)
        for node in self.nodes:
            self.assertEqual(node.next_seq(spender), seq + 1)


def node_status(node: ir3.Node, receipt: Dict[str, Any]) -> Optional[str]:
    outcome = node.outcome(receipt)
    return outcome["status"] if outcome else None


if __name__ == "__main__":
    unittest.main()
