"""Numba kernel: HMAC-SHA256 of many short strings at once, hex-encoded.

Private module: inputs are assumed valid (``data`` uint8, ``offsets`` int64 of
length n + 1, states of 8 uint32). It exists because CPython's ``hmac.digest``
costs about 10 µs a value on this machine (OpenSSL 3 looks the digest up on
every call), which is 100 s for 10 million user ids; the kernel runs
the two SHA-256 compressions of a short message directly, over all cores.

HMAC(K, m) = H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)). The states after the first
block of each side depend only on the key, so they are computed once
(:func:`key_states`) and every message costs one compression per 64 bytes of
message plus one for the outer hash.
"""

from __future__ import annotations

import hashlib

import numpy as np
from numba import njit, prange, uint32

__all__ = ["hmac_hex", "key_states"]

_K = np.array(
    [
        0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4,
        0xAB1C5ED5, 0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE,
        0x9BDC06A7, 0xC19BF174, 0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F,
        0x4A7484AA, 0x5CB0A9DC, 0x76F988DA, 0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7,
        0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967, 0x27B70A85, 0x2E1B2138, 0x4D2C6DFC,
        0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85, 0xA2BFE8A1, 0xA81A664B,
        0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070, 0x19A4C116,
        0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
        0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7,
        0xC67178F2,
    ],
    dtype=np.uint32,
)  # fmt: skip
_IV = np.array(
    [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB,
     0x5BE0CD19],
    dtype=np.uint32,
)  # fmt: skip
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8).copy()


def key_states(key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The SHA-256 states (uint32) after the ipad and opad blocks of ``key``."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    k = np.frombuffer(key.ljust(64, b"\0"), dtype=np.uint8)
    inner = _IV.copy()
    outer = _IV.copy()
    w = np.zeros(64, dtype=np.uint32)
    _compress(inner, (k ^ 0x36).astype(np.uint8), 0, w)
    _compress(outer, (k ^ 0x5C).astype(np.uint8), 0, w)
    return inner, outer


@njit(cache=True, nogil=True, inline="always")
def _rotr(x, n):  # pragma: no cover - compiled
    return uint32((x >> n) | (x << (32 - n)))


@njit(cache=True, nogil=True)
def _compress(state, block, start, w):  # pragma: no cover - compiled
    """One SHA-256 compression of ``block[start:start+64]`` into ``state`` (in place).

    Every sum is wrapped back to 32 bits with ``uint32(…)``: Numba widens uint32
    arithmetic to 64 bits, and 32-bit words are 1.6x faster here than masked
    64-bit ones.
    """
    for t in range(16):
        i = start + 4 * t
        w[t] = uint32(
            (uint32(block[i]) << 24)
            | (uint32(block[i + 1]) << 16)
            | (uint32(block[i + 2]) << 8)
            | uint32(block[i + 3])
        )
    for t in range(16, 64):
        x = w[t - 15]
        y = w[t - 2]
        s0 = _rotr(x, 7) ^ _rotr(x, 18) ^ (x >> 3)
        s1 = _rotr(y, 17) ^ _rotr(y, 19) ^ (y >> 10)
        w[t] = uint32(w[t - 16] + s0 + w[t - 7] + s1)
    a = state[0]
    b = state[1]
    c = state[2]
    d = state[3]
    e = state[4]
    f = state[5]
    g = state[6]
    h = state[7]
    for t in range(64):
        s1 = _rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)
        ch = (e & f) ^ (~e & g)
        t1 = uint32(h + s1 + ch + _K[t] + w[t])
        s0 = _rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)
        maj = (a & b) ^ (a & c) ^ (b & c)
        t2 = uint32(s0 + maj)
        h = g
        g = f
        f = e
        e = uint32(d + t1)
        d = c
        c = b
        b = a
        a = uint32(t1 + t2)
    state[0] = uint32(state[0] + a)
    state[1] = uint32(state[1] + b)
    state[2] = uint32(state[2] + c)
    state[3] = uint32(state[3] + d)
    state[4] = uint32(state[4] + e)
    state[5] = uint32(state[5] + f)
    state[6] = uint32(state[6] + g)
    state[7] = uint32(state[7] + h)


@njit(cache=True, nogil=True)
def _one(data, lo, hi, inner, outer, state, buf, w, out, out_start, hex_chars):  # pragma: no cover
    # Inner hash: the ipad block is already in ``inner``; hash the message's blocks.
    for j in range(8):
        state[j] = inner[j]
    n = hi - lo
    pos = lo
    while hi - pos >= 64:
        for j in range(64):
            buf[j] = data[pos + j]
        _compress(state, buf, 0, w)
        pos += 64
    rest = hi - pos
    for j in range(rest):
        buf[j] = data[pos + j]
    buf[rest] = 0x80
    for j in range(rest + 1, 128):
        buf[j] = 0
    bits = (64 + n) * 8
    end = 64 if rest < 56 else 128
    for j in range(8):
        buf[end - 1 - j] = np.uint8((bits >> (8 * j)) & 0xFF)
    _compress(state, buf, 0, w)
    if end == 128:
        _compress(state, buf, 64, w)
    # Outer hash: 32 digest bytes, padding, length (64 + 32) * 8 bits.
    for j in range(8):
        v = state[j]
        buf[4 * j] = np.uint8((v >> 24) & 0xFF)
        buf[4 * j + 1] = np.uint8((v >> 16) & 0xFF)
        buf[4 * j + 2] = np.uint8((v >> 8) & 0xFF)
        buf[4 * j + 3] = np.uint8(v & 0xFF)
    buf[32] = 0x80
    for j in range(33, 62):
        buf[j] = 0
    buf[62] = 0x03  # 768 bits = 0x0300
    buf[63] = 0x00
    for j in range(8):
        state[j] = outer[j]
    _compress(state, buf, 0, w)
    for j in range(hex_chars):
        word = state[j // 8]
        nibble = (word >> (28 - 4 * (j % 8))) & 0xF
        out[out_start + j] = _HEX[nibble]


@njit(cache=True, nogil=True)
def _fill(data, offsets, inner, outer, hex_chars, out, lo, hi):  # pragma: no cover - compiled
    state = np.empty(8, dtype=np.uint32)
    buf = np.empty(128, dtype=np.uint8)
    w = np.empty(64, dtype=np.uint32)
    for i in range(lo, hi):
        _one(data, offsets[i], offsets[i + 1], inner, outer, state, buf, w, out, i * hex_chars,
             hex_chars)  # fmt: skip


@njit(cache=True, nogil=True, parallel=True)
def _hmac_hex_parallel(data, offsets, inner, outer, hex_chars):  # pragma: no cover - compiled
    n = offsets.shape[0] - 1
    out = np.empty(n * hex_chars, dtype=np.uint8)
    n_chunks = max(1, min(n // 4096, 64))
    step = (n + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        _fill(data, offsets, inner, outer, hex_chars, out, c * step, min(n, (c + 1) * step))
    return out


@njit(cache=True, nogil=True)
def _hmac_hex_serial(data, offsets, inner, outer, hex_chars):  # pragma: no cover - compiled
    n = offsets.shape[0] - 1
    out = np.empty(n * hex_chars, dtype=np.uint8)
    _fill(data, offsets, inner, outer, hex_chars, out, 0, n)
    return out


# Below this many values, waking the thread pool costs more than it saves (DuckDB hands a
# UDF 2,048 rows at a time and already runs UDF calls on several threads).
PARALLEL_MIN = 65536


def hmac_hex(data, offsets, inner, outer, hex_chars):
    """Hex HMAC-SHA256 (first ``hex_chars`` characters) of each ``data[offsets[i]:offsets[i+1]]``.

    Returns one uint8 buffer of ``n * hex_chars`` ASCII characters.
    """
    kernel = _hmac_hex_parallel if len(offsets) - 1 >= PARALLEL_MIN else _hmac_hex_serial
    return kernel(data, offsets, inner, outer, hex_chars)
