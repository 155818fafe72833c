"""The compiled HMAC-SHA256 kernel behind every pseudonym (EDS-SEC-PSE-1): equal to Python's hmac, or refused."""

from __future__ import annotations

import hashlib
import hmac
import os

import pyarrow as pa
import pytest

from santegarde.warehouse import engine, hmac_kernel
from santegarde.warehouse.pseudonym import PseudonymKey, hmac_sql, pseudonyms


def _expected(key: bytes, messages: list[str | None]) -> list[str | None]:
    return [None if m is None else hmac.new(key, m.encode(), hashlib.sha256).hexdigest() for m in messages]


@pytest.mark.parametrize("kernel", sorted(hmac_kernel._KERNELS))
def test_every_kernel_passes_rfc_4231_and_every_length(kernel: str) -> None:
    hmac_kernel.self_check(kernel)  # raises on any difference
    key = os.urandom(32)
    messages: list[str | None] = ["x" * n for n in (0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000)]
    messages += ["Œuvre|ÉLOÏSE|ß|😀", None, ""]
    got = hmac_kernel.hmac_hex(pa.array(messages, pa.string()), *hmac_kernel.key_states(key), kernel)
    assert got.to_pylist() == _expected(key, messages)


def test_large_columns_are_split_over_threads_with_the_same_result() -> None:
    key = PseudonymKey(os.urandom(32))
    messages = [f"person|{i:09d}" for i in range(hmac_kernel.PIECE + 70_000)]
    column = pa.array(messages, pa.large_string()).slice(1000)  # a slice: offsets must be read from its start
    one = hmac_kernel.hmac_hex(column, *key.states)
    two = pseudonyms(key, pa.chunked_array([column.slice(0, 5), column.slice(5)]), threads=2)
    assert two.num_chunks == 3
    assert two.combine_chunks().equals(one)
    assert one[0].as_py() == key.hexdigest(messages[1000])
    assert one[len(one) - 1].as_py() == key.hexdigest(messages[-1])


def test_sql_function_matches_python_and_keeps_nulls() -> None:
    key = PseudonymKey(os.urandom(32))
    con = engine.connect()
    rows = con.execute(
        f"SELECT {hmac_sql('m')} FROM (VALUES ('a'), (NULL), ('person|DUPONT|JEAN|1970-01-01')) t(m)",
        key.params(),
    ).fetchall()
    assert [r[0] for r in rows] == [key.hexdigest("a"), None, key.hexdigest("person|DUPONT|JEAN|1970-01-01")]


def test_wrong_states_are_refused_with_a_sentence() -> None:
    with pytest.raises(hmac_kernel.HmacKernelError, match="32 bytes"):
        hmac_kernel.hmac_hex(pa.array(["a"]), b"short", b"short")
    with pytest.raises(hmac_kernel.HmacKernelError, match="over text"):
        hmac_kernel.hmac_hex(pa.array([1, 2]), *hmac_kernel.key_states(b"k"))
    con = engine.connect()
    with pytest.raises(Exception, match="32 bytes"):
        con.execute(f"SELECT {hmac_sql('m')} FROM (VALUES ('a')) t(m)", {"sg_istate": b"x", "sg_ostate": b"y"})


def test_a_kernel_that_disagrees_with_python_is_never_used(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data, offsets, istate, ostate, out):  # type: ignore[no-untyped-def]
        out[:] = ord("0")

    monkeypatch.setitem(hmac_kernel._KERNELS, "broken", broken)
    with pytest.raises(hmac_kernel.HmacKernelError, match="disagrees"):
        hmac_kernel.self_check("broken")
