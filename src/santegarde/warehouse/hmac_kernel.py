"""HMAC-SHA256 over whole Arrow string columns, compiled to machine code, for the pseudonyms of EDS-SEC-PSE-1.

Why a kernel of our own: a pseudonym is an HMAC of a short message (a normalised identity, a source
reference), computed millions of times per feed. Every library computes one message per call (``hmac``,
``hashlib``, ``cryptography``), and DuckDB's ``sha256`` in SQL has to hash the 64-byte padded key again for
every row and pass the inner digest through hex; both run at about a tenth of OpenSSL's own rate. This
module is RFC 2104 with the two padded-key states computed once per key (``K ^ ipad`` and ``K ^ opad``
compressed from the SHA-256 initial value, FIPS 180-4), so a message of up to 55 bytes costs two
compressions. The kernel is compiled by Numba (``nogil``: DuckDB's threads run it side by side) and reads the
Arrow buffers in place: no per-row Python.

Correctness: :func:`self_check` compares the kernel with Python's ``hmac`` on the RFC 4231 vectors and on
messages of every length across block boundaries; :func:`register` runs it once per process before the
function can be used, so a miscompiled kernel never produces a pseudonym.

In SQL (registered by :func:`register` on every warehouse connection)::

    sg_hmac(istate BLOB, ostate BLOB, message VARCHAR) -> VARCHAR   -- lower-case hex, NULL for NULL

where ``istate``/``ostate`` are the 32-byte states of :func:`key_states`, passed as query parameters only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import hmac
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from duckdb.func import ARROW, SPECIAL
from duckdb.sqltypes import BLOB, VARCHAR
from numba import njit

from santegarde.errors import SantegardeError

FUNCTION = "sg_hmac"
BLOCK = 64
DIGEST_HEX = 64
PIECE = 262_144  # rows per piece of a parallel run: small enough to share out, big enough to not matter
_M32 = 0xFFFFFFFF

_K = np.array(
    [
        0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
        0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
        0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
        0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
        0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
        0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
        0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
        0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
    ],
    dtype=np.int64,
)
_IV = np.array(
    [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19], dtype=np.int64
)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)

# Words are int64 holding 32-bit values: Numba types uint32 arithmetic with int literals as float64, int64 never.


@njit(cache=True, nogil=True)
def _compress(
    ctx: npt.NDArray[np.uint32], block: npt.NDArray[np.uint8], ctx_ptr: int, block_ptr: int, k: npt.NDArray[np.int64]
) -> None:
    """One SHA-256 compression of a 64-byte block into the state ``ctx[:8]`` (FIPS 180-4, 6.2.2).

    The fallback for a libcrypto without ``SHA256_Transform``; words are int64 holding 32-bit values (Numba
    types uint32 arithmetic with int literals as float64, int64 never).
    """
    m = 0xFFFFFFFF
    w = np.empty(64, dtype=np.int64)
    for i in range(16):
        w[i] = (np.int64(block[4 * i]) << 24) | (np.int64(block[4 * i + 1]) << 16) | (
            np.int64(block[4 * i + 2]) << 8) | np.int64(block[4 * i + 3])
    for t in range(16, 64):
        x = w[t - 15]
        y = w[t - 2]
        s0 = ((x >> 7) | (x << 25)) ^ ((x >> 18) | (x << 14)) ^ (x >> 3)
        s1 = ((y >> 17) | (y << 15)) ^ ((y >> 19) | (y << 13)) ^ (y >> 10)
        w[t] = (w[t - 16] + (s0 & m) + w[t - 7] + (s1 & m)) & m
    a, b, c, d = np.int64(ctx[0]), np.int64(ctx[1]), np.int64(ctx[2]), np.int64(ctx[3])
    e, f, g, h = np.int64(ctx[4]), np.int64(ctx[5]), np.int64(ctx[6]), np.int64(ctx[7])
    for t in range(64):
        big_s1 = (((e >> 6) | (e << 26)) ^ ((e >> 11) | (e << 21)) ^ ((e >> 25) | (e << 7))) & m
        ch = (e & f) ^ ((e ^ m) & g)
        t1 = (h + big_s1 + ch + k[t] + w[t]) & m
        big_s0 = (((a >> 2) | (a << 30)) ^ ((a >> 13) | (a << 19)) ^ ((a >> 22) | (a << 10))) & m
        maj = (a & b) ^ (a & c) ^ (b & c)
        h = g
        g = f
        f = e
        e = (d + t1) & m
        d = c
        c = b
        b = a
        a = (t1 + big_s0 + maj) & m
    ctx[0] = (np.int64(ctx[0]) + a) & m
    ctx[1] = (np.int64(ctx[1]) + b) & m
    ctx[2] = (np.int64(ctx[2]) + c) & m
    ctx[3] = (np.int64(ctx[3]) + d) & m
    ctx[4] = (np.int64(ctx[4]) + e) & m
    ctx[5] = (np.int64(ctx[5]) + f) & m
    ctx[6] = (np.int64(ctx[6]) + g) & m
    ctx[7] = (np.int64(ctx[7]) + h) & m


def _openssl_transform() -> Callable[..., None] | None:
    """OpenSSL's one-block SHA-256 (``SHA256_Transform``: SHA-NI or AVX2 where the CPU has them), if available."""
    for name in (ctypes.util.find_library("crypto"), "libcrypto.so.3", "libcrypto.dylib"):
        if not name:
            continue
        try:
            function = ctypes.CDLL(name).SHA256_Transform
        except (OSError, AttributeError):
            continue
        function.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        function.restype = None
        return _calling(function)
    return None


def _calling(native: Callable[[int, int], None]) -> Callable[..., None]:
    """A compiled block transform calling a C ``transform(ctx, block)``."""

    @njit(nogil=True, inline="always")
    def transform(
        ctx: npt.NDArray[np.uint32], block: npt.NDArray[np.uint8], ctx_ptr: int, block_ptr: int,
        k: npt.NDArray[np.int64],
    ) -> None:  # fmt: skip
        native(ctx_ptr, block_ptr)

    return transform


def _make_rows(transform: Callable[..., None]) -> Callable[..., None]:
    """The row loop over one block transform (OpenSSL's or :func:`_compress`)."""

    @njit(nogil=True)
    def rows(
        data: npt.NDArray[np.uint8],
        offsets: npt.NDArray[np.int64],
        istate: npt.NDArray[np.uint32],
        ostate: npt.NDArray[np.uint32],
        out: npt.NDArray[np.uint8],
    ) -> None:
        """The hex HMAC of every row (``data[offsets[i]:offsets[i+1]]``) into ``out[i*64:(i+1)*64]``."""
        k = _K
        hexchars = _HEX
        ctx = np.zeros(28, dtype=np.uint32)  # the size of OpenSSL's SHA256_CTX; the transform uses ctx[:8]
        block = np.zeros(64, dtype=np.uint8)
        ctx_ptr = ctx.ctypes.data
        block_ptr = block.ctypes.data
        for row in range(offsets.shape[0] - 1):
            start = offsets[row]
            n = offsets[row + 1] - start
            ctx[:8] = istate
            blocks = (n + 9 + 63) // 64
            for index in range(blocks):
                base = index * 64
                taken = min(64, max(0, n - base))
                block[:taken] = data[start + base : start + base + taken]
                block[taken:] = 0
                if taken < 64 and base + taken == n:
                    block[taken] = 0x80
                if index == blocks - 1:
                    bits = (BLOCK + n) * 8
                    for j in range(8):
                        block[56 + j] = (bits >> (56 - 8 * j)) & 0xFF
                transform(ctx, block, ctx_ptr, block_ptr, k)
            for i in range(8):
                word = ctx[i]
                block[4 * i] = (word >> 24) & 0xFF
                block[4 * i + 1] = (word >> 16) & 0xFF
                block[4 * i + 2] = (word >> 8) & 0xFF
                block[4 * i + 3] = word & 0xFF
            block[32] = 0x80
            block[33:62] = 0
            block[62] = ((BLOCK + 32) * 8) >> 8
            block[63] = ((BLOCK + 32) * 8) & 0xFF
            ctx[:8] = ostate
            transform(ctx, block, ctx_ptr, block_ptr, k)
            base = row * 64
            for i in range(8):
                word = ctx[i]
                for j in range(8):
                    out[base + 8 * i + j] = hexchars[(word >> (28 - 4 * j)) & 0xF]

    return rows


_OPENSSL = _openssl_transform()
_KERNELS: dict[str, Callable[..., None]] = {"numba": _make_rows(_compress)}
if _OPENSSL is not None:
    _KERNELS["openssl"] = _make_rows(_OPENSSL)
DEFAULT = "openssl" if _OPENSSL is not None else "numba"


class HmacKernelError(SantegardeError):
    """The compiled HMAC kernel cannot be used (wrong key states, or it disagrees with Python's hmac)."""


def key_states(key: bytes) -> tuple[bytes, bytes]:
    """The two 32-byte states (inner, outer) of an HMAC-SHA256 key: equivalent to the key, keep them as secret."""
    if len(key) > BLOCK:
        key = hashlib.sha256(key).digest()
    padded = np.frombuffer(key.ljust(BLOCK, b"\0"), dtype=np.uint8)
    states = []
    for pad in (0x36, 0x5C):
        ctx = _IV.astype(np.uint32)
        _compress(ctx, padded ^ np.uint8(pad), 0, 0, _K)
        states.append(ctx.astype(">u4").tobytes())
    return states[0], states[1]


def _state_words(state: bytes) -> npt.NDArray[np.uint32]:
    if len(state) != 32:
        raise HmacKernelError("An HMAC key state is 32 bytes: pass the states given by key_states(), not the key.")
    return np.frombuffer(state, dtype=">u4").astype(np.uint32)


def _buffers(column: pa.Array) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """The bytes and the per-row offsets (relative to those bytes) of a string or binary column, in place."""
    if pa.types.is_string_view(column.type) or pa.types.is_binary_view(column.type):
        column = column.cast(pa.large_string())
    width = np.int64 if pa.types.is_large_string(column.type) or pa.types.is_large_binary(column.type) else np.int32
    _, offsets_buffer, data_buffer = column.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=width, count=len(column) + 1, offset=column.offset * width().itemsize)
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, dtype=np.uint8)
    return data, offsets.astype(np.int64)


def hmac_hex(column: pa.Array | pa.ChunkedArray, istate: bytes, ostate: bytes, kernel: str = "") -> pa.Array:
    """The lower-case hex HMAC-SHA256 of every value of a string column (UTF-8 bytes); NULL stays NULL.

    ``kernel`` picks the block transform (``openssl`` or ``numba``; default: OpenSSL's when available).
    """
    if isinstance(column, pa.ChunkedArray):  # DuckDB hands a vector over as a one-chunk column
        column = column.combine_chunks()
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
            or pa.types.is_string_view(column.type) or pa.types.is_binary(column.type)):  # fmt: skip
        raise HmacKernelError(f"HMAC pseudonyms are computed over text, not over {column.type}.")
    rows = len(column)
    data, offsets = _buffers(column)
    out = np.empty(rows * DIGEST_HEX, dtype=np.uint8)
    _KERNELS[kernel or DEFAULT](data, offsets, _state_words(istate), _state_words(ostate), out)
    result_offsets = pa.py_buffer(np.arange(0, (rows + 1) * DIGEST_HEX, DIGEST_HEX, dtype=np.int32))
    result = pa.Array.from_buffers(pa.string(), rows, [None, result_offsets, pa.py_buffer(out)])
    if column.null_count:
        result = pc.if_else(column.is_null(), pa.scalar(None, pa.string()), result)
    return result


def hmac_hex_parallel(
    column: pa.Array | pa.ChunkedArray, istate: bytes, ostate: bytes, threads: int, kernel: str = ""
) -> pa.ChunkedArray:
    """:func:`hmac_hex` over a whole column, in pieces of at most ``PIECE`` rows computed on ``threads`` threads.

    The kernel releases the GIL, so the pieces run side by side; a piece is a zero-copy slice, and its
    digests are a chunk of the result (no column-sized buffer is ever allocated).
    """
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    pieces = [chunk.slice(lo, PIECE) for chunk in chunks for lo in range(0, len(chunk), PIECE)]
    if threads <= 1 or len(pieces) <= 1:
        return pa.chunked_array([hmac_hex(p, istate, ostate, kernel) for p in pieces], pa.string())
    with ThreadPoolExecutor(min(threads, len(pieces))) as pool:
        digests = list(pool.map(lambda piece: hmac_hex(piece, istate, ostate, kernel), pieces))
    return pa.chunked_array(digests, pa.string())


def _udf(istate: pa.Array, ostate: pa.Array, message: pa.Array) -> pa.Array:
    """DuckDB calls this once per vector of rows; the two states are constant query parameters."""
    if len(message) == 0:
        return pa.array([], pa.string())
    if istate.null_count or ostate.null_count:
        raise HmacKernelError("sg_hmac needs the key states as parameters; one of them is NULL.")
    return hmac_hex(message, istate[0].as_py(), ostate[0].as_py())


@cache
def self_check(kernel: str = "") -> None:
    """Compare a kernel with Python's ``hmac`` (RFC 4231, every length 0..200); raise if it differs."""
    vectors = [  # RFC 4231 test cases 1, 2, 4 and 6 (key longer than a block)
        (b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (b"Jefe", b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        (bytes(range(1, 26)), b"\xcd" * 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    ]  # fmt: skip
    key = os.urandom(32)
    messages = [os.urandom(n).hex()[:n] for n in range(201)] + ["Éloïse|Œuvre|ß", None]
    expected_all = [None if m is None else hmac.new(key, m.encode(), hashlib.sha256).hexdigest() for m in messages]
    kernel = kernel or DEFAULT
    for vector_key, message, expected in vectors:
        if hmac_hex(pa.array([message], pa.binary()), *key_states(vector_key), kernel)[0].as_py() != expected:
            raise HmacKernelError(f"The {kernel} HMAC kernel disagrees with RFC 4231: pseudonyms cannot be computed.")
    if hmac_hex(pa.array(messages, pa.string()), *key_states(key), kernel).to_pylist() != expected_all:
        raise HmacKernelError(f"The {kernel} HMAC kernel disagrees with Python's hmac: pseudonyms cannot be computed.")

def register(con: duckdb.DuckDBPyConnection) -> None:
    """Make ``sg_hmac(istate, ostate, message)`` available on a DuckDB connection (after :func:`self_check`)."""
    self_check()
    con.create_function(
        FUNCTION, _udf, [BLOB, BLOB, VARCHAR], VARCHAR, type=ARROW, null_handling=SPECIAL, side_effects=False
    )
