"""Tests of the ``ir3`` client against a real node.

Each test class starts its own node (binary from ``IR3_BIN``, default
``<repo>/target/debug/ir3``) on a free loopback port with a temporary ``--data-dir``, and
kills it at the end. Run from the repository root:

    IR3_BIN=target/debug/ir3 python -m unittest discover -s python/tests -v
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path
from typing import Any, Dict, List, Optional

import ir3

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pure_eth_account  # noqa: E402
from nodeproc import ProcessBase, free_port  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BIN = os.environ.get("IR3_BIN") or str(REPO / "target" / "debug" / "ir3")

_names = itertools.count()


def currency() -> str:
    """A currency name no other test uses (each has its own issuer)."""
    return f"C{os.getpid() % 10000}X{next(_names)}"


class NodeProcess(ProcessBase):
    """A node process on a data directory (kept across restarts)."""

    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir
        self.process: Optional[subprocess.Popen] = None
        self.port = 0
        self.log = data_dir.rstrip("/") + ".log"

    def start(self, timeout: float = 20.0) -> ir3.Node:
        binary = os.path.abspath(BIN)
        if not os.path.exists(binary):
            message = f"no node binary at {binary} (cargo build -p ir3, or set IR3_BIN)"
            if os.environ.get("IR3_BIN"):
                raise RuntimeError(message)  # asked for explicitly (scripts/test.sh): a failure
            raise unittest.SkipTest(message)
        self.port = free_port()
        log = open(self.log, "ab")
        self.process = subprocess.Popen(
            [binary, "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", self.data_dir],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        node = ir3.connect(f"127.0.0.1:{self.port}", timeout=10)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"node exited with {self.process.returncode}: {self.tail()}")
            try:
                node.call("eth_chainId")
                return node
            except ir3.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"node not up after {timeout} s: {self.tail()}")
                time.sleep(0.05)


class NodeTestCase(unittest.TestCase):
    """Starts a node for the class, kills it after."""

    node: ir3.Node
    proc: NodeProcess
    accounts: List[str]

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.mkdtemp(prefix="ir3-py-")
        cls.proc = NodeProcess(os.path.join(cls.tmp, "data"))
        try:
            cls.node = cls.proc.start()
        except BaseException:
            cls.proc.kill()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise
        cls.accounts = cls.node.accounts

    @classmethod
    def tearDownClass(cls) -> None:
        cls.proc.kill()
        shutil.rmtree(cls.tmp, ignore_errors=True)


class MoneyTest(NodeTestCase):
    def test_accounts(self) -> None:
        self.assertEqual(len(self.accounts), 10)
        self.assertTrue(all(a.startswith("0x") and len(a) == 42 for a in self.accounts))

    def test_mint_balance_currencies(self) -> None:
        gold = currency()
        alice, bob = self.accounts[0], self.accounts[1]
        receipt = self.node.money.mint(currency=gold, amount=1000, sender=alice)
        self.assertTrue(receipt["id"].startswith("0x"))
        self.assertEqual(receipt["outcome"]["status"], "mint_accepted")
        self.assertEqual(json.loads(receipt["message"])["amount"], "1000")
        self.assertEqual(self.node.money.balance(alice, gold), 1000)
        # A mint to another account; amounts beyond a JSON number's range are fine.
        big = 10**30
        self.node.money.mint(currency=gold, amount=big, to=bob, sender=alice)
        self.assertEqual(self.node.money.balance(bob, gold), big)
        self.assertEqual(self.node.money.balances(bob), {gold: big})
        mine = [c for c in self.node.money.currencies() if c["name"] == gold]
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["issuer"].lower(), alice.lower())
        self.assertEqual(mine[0]["supply"], 1000 + big)

    def test_balance_at_epoch(self) -> None:
        gold = currency()
        alice = self.accounts[0]
        first = self.node.money.mint(currency=gold, amount=7, sender=alice)
        self.node.money.mint(currency=gold, amount=3, sender=alice)
        epoch = first["outcome"]["epoch"]
        self.assertEqual(self.node.money.balance(alice, gold, at_epoch=epoch), 7)
        self.assertEqual(self.node.money.balance(alice, gold), 10)

    def test_transfer(self) -> None:
        gold = currency()
        alice, bob = self.accounts[0], self.accounts[2]
        self.node.money.mint(currency=gold, amount=500, sender=alice)
        receipt = self.node.money.transfer(currency=gold, to=bob, amount=120, sender=alice)
        self.assertEqual(receipt["outcome"]["status"], "transfer_accepted")
        self.assertEqual(self.node.money.balance(alice, gold), 380)
        self.assertEqual(self.node.money.balance(bob, gold), 120)

    def test_non_issuer_mint_is_rejected(self) -> None:
        gold = currency()
        self.node.money.mint(currency=gold, amount=1, sender=self.accounts[0])
        with self.assertRaises(ir3.RpcError) as caught:
            self.node.money.mint(currency=gold, amount=1, sender=self.accounts[1])
        self.assertEqual(caught.exception.code, -32003)
        self.assertIn("mint_rejected", caught.exception.message)
        self.assertIn("mint_rejected", str(caught.exception))
        self.assertEqual(self.node.money.balance(self.accounts[1], gold), 0)

    def test_insufficient_balance(self) -> None:
        gold = currency()
        alice, bob = self.accounts[0], self.accounts[3]
        self.node.money.mint(currency=gold, amount=10, sender=alice)
        with self.assertRaises(ir3.RpcError) as caught:
            self.node.money.transfer(currency=gold, to=bob, amount=11, sender=alice)
        self.assertEqual(caught.exception.code, -32003)
        self.assertIn("insufficient balance", caught.exception.message)
        self.assertEqual(self.node.money.balance(alice, gold), 10)

    def test_invalid_params(self) -> None:
        with self.assertRaises(ir3.RpcError) as caught:
            self.node.money.mint(currency="not a name!", amount=1, sender=self.accounts[0])
        self.assertEqual(caught.exception.code, -32602)
        with self.assertRaises(ir3.RpcError) as caught:
            # Not a dev account of the node: it cannot sign.
            self.node.money.mint(currency=currency(), amount=1, sender="0x" + "11" * 20)
        self.assertEqual(caught.exception.code, -32602)
        with self.assertRaises(TypeError):
            self.node.money.mint(currency=currency(), amount=1)  # no sender, no key

    def test_wait_final(self) -> None:
        receipt = self.node.money.mint(currency=currency(), amount=5, sender=self.accounts[0])
        outcome = self.node.wait_final(receipt, timeout=10)
        self.assertTrue(outcome["isFinal"])
        self.assertEqual(outcome["status"], "mint_accepted")
        self.assertEqual(self.node.wait_final(receipt["id"], timeout=10), outcome)
        with self.assertRaises(TimeoutError):
            self.node.wait_final("0x" + "00" * 32, timeout=0.3)


class LendingTest(NodeTestCase):
    def test_offer_accept_repay(self) -> None:
        gold = currency()
        lender, borrower = self.accounts[4], self.accounts[5]
        amount, bps = 1000, 250
        due = amount + amount * bps // 10000  # amount × (1 + bps/10000)
        self.assertEqual(due, 1025)
        self.node.money.mint(currency=gold, amount=5000, sender=lender)
        self.node.money.mint(currency=gold, amount=100, to=borrower, sender=lender)

        offer = self.node.lending.offer(
            currency=gold, amount=amount, interest_bps=bps, duration_ms=60_000, sender=lender
        )
        self.assertEqual(offer["outcome"]["status"], "offer_accepted")
        self.assertEqual(json.loads(offer["message"])["interestBps"], bps)
        loan_id = offer["id"]
        self.assertEqual(self.node.money.balance(lender, gold), 5000 - amount)
        loan = self.node.lending.loan(loan_id)
        assert loan is not None
        self.assertEqual(loan["status"], "offered")
        self.assertEqual(loan["amount"], amount)
        self.assertEqual(loan["interestBps"], bps)
        self.assertEqual(loan["durationMs"], 60_000)
        self.assertIsNone(loan["borrower"])

        # A lender cannot borrow its own offer.
        with self.assertRaises(ir3.RpcError) as caught:
            self.node.lending.accept(loan=loan_id, sender=lender)
        self.assertEqual(caught.exception.code, -32003)
        self.assertIn("accept_rejected", caught.exception.message)

        accepted = self.node.lending.accept(loan=loan_id, sender=borrower)
        self.assertEqual(accepted["outcome"]["status"], "accept_accepted")
        self.assertEqual(self.node.money.balance(borrower, gold), 100 + amount)
        loan = self.node.lending.loan(loan_id)
        assert loan is not None
        self.assertEqual(loan["status"], "active")
        self.assertEqual(loan["borrower"].lower(), borrower.lower())
        self.assertIsInstance(loan["deadlineMs"], int)

        repaid = self.node.lending.repay(loan=offer, sender=borrower)  # a receipt names the loan too
        self.assertEqual(repaid["outcome"]["status"], "repay_accepted")
        self.assertEqual(self.node.money.balance(borrower, gold), 100 + amount - due)
        self.assertEqual(self.node.money.balance(lender, gold), 5000 - amount + due)
        loan = self.node.lending.loan(loan_id)
        assert loan is not None
        self.assertEqual(loan["status"], "repaid")

        with self.assertRaises(ir3.RpcError) as caught:
            self.node.lending.repay(loan=loan_id, sender=borrower)
        self.assertIn("repay_rejected", caught.exception.message)

    def test_repay_needs_the_interest(self) -> None:
        gold = currency()
        lender, borrower = self.accounts[6], self.accounts[7]
        self.node.money.mint(currency=gold, amount=1000, sender=lender)
        offer = self.node.lending.offer(
            currency=gold, amount=1000, interest_bps=1000, duration_ms=60_000, sender=lender
        )
        self.node.lending.accept(loan=offer["id"], sender=borrower)
        with self.assertRaises(ir3.RpcError) as caught:  # holds 1000, owes 1100
            self.node.lending.repay(loan=offer["id"], sender=borrower)
        self.assertEqual(caught.exception.code, -32003)
        self.assertIn("insufficient balance", caught.exception.message)

    def test_cancel(self) -> None:
        gold = currency()
        lender, other = self.accounts[8], self.accounts[9]
        self.node.money.mint(currency=gold, amount=300, sender=lender)
        offer = self.node.lending.offer(currency=gold, amount=200, duration_ms=1000, sender=lender)
        self.assertEqual(self.node.money.balance(lender, gold), 100)
        with self.assertRaises(ir3.RpcError) as caught:
            self.node.lending.cancel(loan=offer["id"], sender=other)
        self.assertEqual(caught.exception.code, -32003)
        self.assertIn("cancel_rejected", caught.exception.message)
        cancelled = self.node.lending.cancel(loan=offer["id"], sender=lender)
        self.assertEqual(cancelled["outcome"]["status"], "cancel_accepted")
        self.assertEqual(self.node.money.balance(lender, gold), 300)
        loan = self.node.lending.loan(offer["id"])
        assert loan is not None
        self.assertEqual(loan["status"], "cancelled")
        with self.assertRaises(ir3.RpcError):
            self.node.lending.accept(loan=offer["id"], sender=other)

    def test_offer_over_balance(self) -> None:
        gold = currency()
        self.node.money.mint(currency=gold, amount=10, sender=self.accounts[4])
        with self.assertRaises(ir3.RpcError) as caught:
            self.node.lending.offer(currency=gold, amount=11, duration_ms=1000, sender=self.accounts[4])
        self.assertEqual(caught.exception.code, -32003)
        self.assertIn("offer_rejected", caught.exception.message)


class GenericTest(NodeTestCase):
    def test_raw_call(self) -> None:
        self.assertEqual(self.node.call("eth_chainId"), "0x539")
        self.assertEqual(self.node.call("eth_accounts"), self.accounts)
        gold = currency()
        self.node.call("ir3_money_mint", {"from": self.accounts[0], "currency": gold, "amount": "42"})
        self.assertEqual(self.node.call("ir3_money_balance", self.accounts[0], gold), "42")
        self.assertEqual(self.node.call_named("ir3_money_balance", account=self.accounts[0], currency=gold), "42")
        with self.assertRaises(ir3.RpcError) as caught:
            self.node.call("ir3_no_such_method")
        self.assertEqual(caught.exception.code, -32601)

    def test_eth(self) -> None:
        self.assertIsInstance(self.node.eth.block_number(), int)
        self.assertEqual(self.node.eth.chain_id(), 1337)
        # Fallback: eth_getBalance.
        self.assertTrue(int(self.node.eth.get_balance(self.accounts[0], "latest"), 16) > 0)

    def test_fallback(self) -> None:
        account = self.accounts[0]
        # Explicit methods and the generic mapping reach the same node methods.
        self.assertEqual(self.node.money.currencies(), [
            dict(c, supply=int(c["supply"])) for c in self.node.call("ir3_money_currencies")
        ])
        seq = self.node.apps.next_seq(account)  # -> ir3_apps_nextSeq
        self.assertIsInstance(seq, int)
        self.assertEqual(seq, self.node.call("ir3_apps_nextSeq", account))
        self.assertEqual(seq, self.node.next_seq(account))
        receipt = self.node.money.mint(currency=currency(), amount=1, sender=account)
        self.assertEqual(self.node.apps.next_seq(account), seq + 1)
        self.assertEqual(self.node.apps.outcome(receipt["id"]), self.node.outcome(receipt))
        gold = currency()
        # A write through the generic mapping of a known app: sender= is `from`.
        generic = ir3.App(self.node, "money")
        generic.mint(currency=gold, amount=9, sender=account)
        self.assertEqual(generic.balance(account, gold), "9")
        self.assertEqual(generic.balance(account=account, currency=gold), "9")
        # An app the node may not have yet: its method is ir3_reputation_query.
        try:
            self.node.reputation.query(account)
        except ir3.RpcError as error:  # not there yet (or it wants other params)
            self.assertIn(error.code, (-32601, -32602))

    def test_mapping(self) -> None:
        """The requests the generic mapping makes (no node needed)."""
        sent: List[Dict[str, Any]] = []
        node = ir3.connect("http://example.invalid:1")

        def fake_send(payload: Dict[str, Any]) -> Dict[str, Any]:
            sent.append(payload)
            return {"jsonrpc": "2.0", "id": payload["id"], "result": None}

        node._send = fake_send  # type: ignore[method-assign]
        node.reputation.query("0xabc")
        node.territory.claim_cell(sender="0x01", cell_id=7, amount=12, deposit_amount=3)
        node.lending.offer(currency="G", amount=5, interest_bps=100, duration_ms=10, sender="0x02")
        node.messaging.thread_of(account="0x03", since_ms=5)  # not an explicit method
        node.apps.next_seq("0x04")
        node.eth.get_transaction_count("0x05", "latest")
        self.assertEqual([(p["method"], p["params"]) for p in sent], [
            ("ir3_reputation_query", ["0xabc"]),
            ("ir3_territory_claimCell", [{"from": "0x01", "cellId": 7, "amount": "12", "depositAmount": "3"}]),
            ("ir3_lending_offer", [{"from": "0x02", "currency": "G", "amount": "5", "interestBps": 100, "durationMs": 10}]),
            ("ir3_messaging_threadOf", {"account": "0x03", "sinceMs": 5}),
            ("ir3_apps_nextSeq", ["0x04"]),
            ("eth_getTransactionCount", ["0x05", "latest"]),
        ])
        with self.assertRaises(TypeError):
            node.messaging.thread_of("0x03", since_ms=5)
        with self.assertRaises(ValueError):
            node.territory.claim(sender="0x01", seq=3)
        # The peer apps' explicit methods: positional params, as the node documents them.
        sent.clear()
        node.reputation.list()
        node.territory.observe("paris", 21)
        node.territory.want("paris")
        node.territory.consensus("paris")
        node.messaging.send("12D3KooWpeer", "hi")
        node.messaging.broadcast("news", "hello")
        node.messaging.follow("news")
        node.messaging.unfollow("news")
        node.messaging.block("12D3KooWpeer")
        node.messaging.unblock("12D3KooWpeer")
        node.messaging.inbox()
        node.messaging.receipts("0x01")
        node.compute.call("602a60005260206000f3")
        node.compute.call(b"\x36", data=b"\xde\xad")
        self.assertEqual([(p["method"], p["params"]) for p in sent], [
            ("ir3_reputation_list", []),
            ("ir3_territory_observe", ["paris", 21.0]),
            ("ir3_territory_want", ["paris"]),
            ("ir3_territory_consensus", ["paris"]),
            ("ir3_messaging_send", ["12D3KooWpeer", "hi"]),
            ("ir3_messaging_broadcast", ["news", "hello"]),
            ("ir3_messaging_follow", ["news"]),
            ("ir3_messaging_unfollow", ["news"]),
            ("ir3_messaging_block", ["12D3KooWpeer"]),
            ("ir3_messaging_unblock", ["12D3KooWpeer"]),
            ("ir3_messaging_inbox", []),
            ("ir3_messaging_receipts", ["0x01"]),
            ("ir3_compute_call", ["0x602a60005260206000f3"]),
            ("ir3_compute_call", ["0x36", "0xdead"]),
        ])
        self.assertEqual(ir3.connect("localhost:8545").url, "http://localhost:8545")
        self.assertEqual(ir3.connect("https://h:1/rpc").url, "https://h:1/rpc")

    def test_unreachable(self) -> None:
        node = ir3.connect(f"127.0.0.1:{free_port()}", timeout=2)
        with self.assertRaises(ir3.TransportError):
            node.accounts


class SigningTest(NodeTestCase):
    """``key=``: operations signed here, sent with ir3_apps_submit."""

    def setUp(self) -> None:
        self.saved = {k: sys.modules.get(k) for k in ("eth_account", "eth_account.messages")}

    def tearDown(self) -> None:
        for name, module in self.saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module

    def _signing_with(self, address_of) -> None:
        key = "0x" + secrets.token_hex(32)
        address = address_of(key)
        gold = currency()
        receipt = self.node.money.mint(currency=gold, amount=77, key=key)
        self.assertEqual(receipt["outcome"]["status"], "mint_accepted")
        self.assertEqual(receipt["outcome"]["from"].lower(), address.lower())
        message = json.loads(receipt["message"])
        self.assertEqual((message["app"], message["op"], message["seq"]), ("money", "mint", 0))
        self.assertEqual(self.node.money.balance(address, gold), 77)
        self.node.money.transfer(currency=gold, to=self.accounts[0], amount=7, key=key, sender=address)
        self.assertEqual(self.node.money.balance(self.accounts[0], gold), 7)
        self.assertEqual(self.node.apps.next_seq(address), 2)
        with self.assertRaises(ir3.RpcError) as caught:
            self.node.money.transfer(currency=gold, to=self.accounts[0], amount=71, key=key)
        self.assertEqual(caught.exception.code, -32003)
        with self.assertRaises(ValueError):
            self.node.money.transfer(currency=gold, to=self.accounts[0], amount=1, key=key, sender=self.accounts[1])
        offer = self.node.lending.offer(currency=gold, amount=10, duration_ms=1000, key=key)
        self.node.lending.cancel(loan=offer["id"], key=key)
        self.assertEqual(self.node.money.balance(address, gold), 70)

    def test_signing_pure_python(self) -> None:
        pure_eth_account.install()
        self._signing_with(pure_eth_account.address_of)

    def test_signing_eth_account(self) -> None:
        for name in self.saved:
            sys.modules.pop(name, None)
        try:
            from eth_account import Account
        except ImportError:
            self.skipTest("eth-account is not installed")
        self._signing_with(lambda key: Account.from_key(key).address)

    def test_no_eth_account(self) -> None:
        sys.modules["eth_account"] = None  # type: ignore[assignment]
        with self.assertRaises(ir3.SigningUnavailable) as caught:
            self.node.money.mint(currency=currency(), amount=1, key="0x" + "01" * 32)
        self.assertIn("eth-account", str(caught.exception))
        self.assertIsInstance(caught.exception, ImportError)


class RestartTest(NodeTestCase):
    def test_state_survives_kill(self) -> None:
        gold, silver = currency(), currency()
        alice, bob = self.accounts[0], self.accounts[1]
        self.node.money.mint(currency=gold, amount=1000, sender=alice)
        self.node.money.transfer(currency=gold, to=bob, amount=250, sender=alice)
        self.node.money.mint(currency=silver, amount=5, sender=bob)
        offer = self.node.lending.offer(currency=gold, amount=100, interest_bps=10, duration_ms=600_000, sender=alice)
        self.node.lending.accept(loan=offer["id"], sender=bob)
        before = {a: self.node.money.balances(a) for a in (alice, bob)}
        currencies = self.node.money.currencies()
        loans = self.node.lending.loans()
        seq = self.node.next_seq(alice)

        self.proc.kill(signal.SIGKILL)
        node = self.proc.start()
        type(self).node = node

        self.assertEqual({a: node.money.balances(a) for a in (alice, bob)}, before)
        self.assertEqual(before[alice], {gold: 650})
        self.assertEqual(before[bob], {gold: 350, silver: 5})
        self.assertEqual(node.money.currencies(), currencies)
        self.assertEqual(node.lending.loans(), loans)
        self.assertEqual(node.next_seq(alice), seq)
        self.assertEqual(node.outcome(offer)["status"], "offer_accepted")
        # It goes on: the issuer is still the issuer.
        with self.assertRaises(ir3.RpcError):
            node.money.mint(currency=gold, amount=1, sender=bob)
        node.lending.repay(loan=offer["id"], sender=bob)
        self.assertEqual(node.money.balance(alice, gold), 650 + 100)


if __name__ == "__main__":
    unittest.main()
