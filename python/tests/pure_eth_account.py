"""A stand-in for the parts of ``eth_account`` the client uses, in pure Python (tests only).

``eth-account`` is optional and not installed in CI; this module lets the tests drive the
client's ``key=`` path (EIP-191 personal_sign, Keccak-256, secp256k1) against a real node.
It is slow and not constant-time: never use it for real keys.

:func:`install` puts it in ``sys.modules`` as ``eth_account`` and ``eth_account.messages``.
"""

from __future__ import annotations

import secrets
import sys
import types
from typing import List, Tuple

# Keccak-256 (the pre-standard padding Ethereum uses).

_RC = [
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
]
_ROT = [
    [0, 36, 3, 41, 18],
    [1, 44, 10, 45, 2],
    [62, 6, 43, 15, 61],
    [28, 55, 25, 21, 56],
    [27, 20, 39, 8, 14],
]
_MASK = (1 << 64) - 1


def _rol(value: int, shift: int) -> int:
    shift %= 64
    return ((value << shift) | (value >> (64 - shift))) & _MASK


def _keccak_f(a: List[List[int]]) -> List[List[int]]:
    for rc in _RC:
        c = [a[x][0] ^ a[x][1] ^ a[x][2] ^ a[x][3] ^ a[x][4] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rol(c[(x + 1) % 5], 1) for x in range(5)]
        a = [[a[x][y] ^ d[x] for y in range(5)] for x in range(5)]
        b = [[0] * 5 for _ in range(5)]
        for x in range(5):
            for y in range(5):
                b[y][(2 * x + 3 * y) % 5] = _rol(a[x][y], _ROT[x][y])
        a = [[b[x][y] ^ ((~b[(x + 1) % 5][y]) & b[(x + 2) % 5][y]) for y in range(5)] for x in range(5)]
        a[0][0] ^= rc
    return a


def keccak256(data: bytes) -> bytes:
    rate = 136
    padded = bytearray(data) + b"\x01" + b"\x00" * ((rate - (len(data) + 1) % rate) % rate)
    padded[-1] |= 0x80
    state = [[0] * 5 for _ in range(5)]
    for offset in range(0, len(padded), rate):
        block = padded[offset : offset + rate]
        for i in range(rate // 8):
            x, y = i % 5, i // 5
            state[x][y] ^= int.from_bytes(block[8 * i : 8 * i + 8], "little")
        state = _keccak_f(state)
    out = b"".join(state[i % 5][i // 5].to_bytes(8, "little") for i in range(4))
    return out


# secp256k1.

_P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_G = (
    0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
)
Point = Tuple[int, int]


def _add(p: "Point | None", q: "Point | None") -> "Point | None":
    if p is None:
        return q
    if q is None:
        return p
    if p[0] == q[0] and (p[1] + q[1]) % _P == 0:
        return None
    if p == q:
        lam = 3 * p[0] * p[0] * pow(2 * p[1], -1, _P) % _P
    else:
        lam = (q[1] - p[1]) * pow(q[0] - p[0], -1, _P) % _P
    x = (lam * lam - p[0] - q[0]) % _P
    return (x, (lam * (p[0] - x) - p[1]) % _P)


def _mul(k: int, p: Point) -> Point:
    result = None
    addend: "Point | None" = p
    while k:
        if k & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        k >>= 1
    assert result is not None
    return result


def _key_int(key: "str | bytes") -> int:
    if isinstance(key, bytes):
        return int.from_bytes(key, "big")
    return int(key[2:] if key.startswith("0x") else key, 16)


def address_of(key: "str | bytes") -> str:
    x, y = _mul(_key_int(key), _G)
    return "0x" + keccak256(x.to_bytes(32, "big") + y.to_bytes(32, "big"))[12:].hex()


def sign_hash(digest: bytes, key: "str | bytes") -> bytes:
    d = _key_int(key)
    z = int.from_bytes(digest, "big")
    while True:
        k = secrets.randbelow(_N - 1) + 1
        rx, ry = _mul(k, _G)
        r = rx % _N
        if r == 0:
            continue
        s = pow(k, -1, _N) * (z + r * d) % _N
        if s == 0:
            continue
        recid = (ry & 1) | (2 if rx >= _N else 0)
        if s > _N // 2:
            s = _N - s
            recid ^= 1
        return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([27 + recid])


# The eth_account surface the client uses.


class SignableMessage:
    def __init__(self, body: bytes) -> None:
        self.body = body


def encode_defunct(text: str) -> SignableMessage:
    return SignableMessage(text.encode())


class _Local:
    def __init__(self, key: str) -> None:
        self.key = key
        self.address = address_of(key)


class _Signed:
    def __init__(self, signature: bytes) -> None:
        self.signature = signature


class Account:
    @staticmethod
    def from_key(key: str) -> _Local:
        return _Local(key)

    @staticmethod
    def sign_message(signable: SignableMessage, private_key: str) -> _Signed:
        body = signable.body
        digest = keccak256(b"\x19Ethereum Signed Message:\n" + str(len(body)).encode() + body)
        return _Signed(sign_hash(digest, private_key))


def install() -> None:
    """Makes ``import eth_account`` and ``eth_account.messages`` resolve to this module."""
    package = types.ModuleType("eth_account")
    package.Account = Account  # type: ignore[attr-defined]
    messages = types.ModuleType("eth_account.messages")
    messages.encode_defunct = encode_defunct  # type: ignore[attr-defined]
    package.messages = messages  # type: ignore[attr-defined]
    sys.modules["eth_account"] = package
    sys.modules["eth_account.messages"] = messages
