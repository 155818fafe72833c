"""Identity matching at scale (issue 15) against exact matching measured in the same run.

Run: ``python bench/bench_matching.py [--identities 100000] [--batch-pairs 250000] [--memory-limit 1GB]``.

``--identities`` synthetic identities (syllable family names, French first names, birth dates 1930–2015, sex, one of
1 000 INSEE birthplaces, no INS) plus 5 % duplicates of random ones carrying one error each (a typo in the family
name, a typo in the first name, or day and month swapped). The product's
:func:`santegarde.warehouse.matching.assign` (keyed hashes in SQL, blocking index in DuckDB, candidate pairs scored
in batches with RapidFuzz ``process.cpdist`` and NumPy) runs on them in a new warehouse, against **exact matching**
(same normalised family name, first name and birth date: a dictionary lookup per record) on the same records.
It runs twice, with batches of at most ``--batch-pairs`` candidate pairs both times: with DuckDB's memory
unlimited (100 GB, more than the machine: the warehouse's connection as it was) and under ``--memory-limit``
(:data:`santegarde.warehouse.matching.MEMORY_LIMIT` by default, the product's); the two must give the same persons.
Reported: seconds and the ratio to exact matching, records/s, candidate pairs scored per second, the largest number
of pairs scored at once, links, precision and recall against the generator's truth, pairs queued for review, and
the growth of peak RSS of the process that ran each side (each side runs in a forked child).
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd
from bench_warehouse import _keyring
from rich.console import Console
from rich.table import Table

from santegarde.warehouse import Warehouse, matching
from santegarde.warehouse.pseudonym import normalise

SYLLABLES = ("ber", "mar", "tin", "du", "pon", "ro", "lan", "gui", "chet", "vau", "ri", "no", "el", "mo", "rel",
             "bou", "cher", "fa", "val", "lé", "tou", "sa", "gne", "ville", "court", "mont", "ey", "pi", "quet", "lo",
             "ge", "ral", "dé", "nis", "bru", "nel", "ca", "mus", "vi", "al")  # fmt: skip
GIVEN = ("Jean", "Marie", "Pierre", "Anne", "Michel", "Isabelle", "Philippe", "Catherine", "Alain", "Sylvie",
         "Nicolas", "Nathalie", "Christophe", "Sophie", "Laurent", "Céline", "Julien", "Aurélie", "Thomas", "Julie",
         "Camille", "Léa", "Hugo", "Chloé", "Louis", "Emma", "Gabriel", "Jade", "Arthur", "Louise", "Raphaël",
         "Alice", "Paul", "Inès", "Jules", "Manon", "Lucas", "Zoé", "Adam", "Lina", "Hélène", "Bernard", "Dominique",
         "Claude", "Monique", "Françoise", "Daniel", "Jacques", "Martine", "André")  # fmt: skip
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def identities(n: int, seed: int = 15) -> tuple[list[dict[str, Any]], list[int]]:
    """``n`` identities and 5 % erroneous duplicates; with each record, the number of the person it truly is."""
    rng = random.Random(seed)  # noqa: S311 - fictitious identities, reproducible; no secret
    records, truth = [], []
    for person in range(n):
        family = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).upper()
        born = date(1930, 1, 1) + timedelta(days=rng.randrange(31_000))
        records.append({"family": family, "given": rng.choice(GIVEN), "birth": born,
                        "gender": rng.choice(("male", "female")), "birth_place": f"{rng.randrange(1, 96):02d}"
                        f"{rng.randrange(1, 1000):03d}"})  # fmt: skip
        truth.append(person)
    for _ in range(n // 20):
        person = rng.randrange(n)
        copy = dict(records[person])
        kind = rng.choice(("family", "given", "swap"))
        if kind == "swap" and copy["birth"].day <= 12 and copy["birth"].day != copy["birth"].month:
            copy["birth"] = copy["birth"].replace(day=copy["birth"].month, month=copy["birth"].day)
        else:
            field = "given" if kind == "given" else "family"
            word = copy[field]
            at = rng.randrange(1, len(word))
            copy[field] = word[:at] + rng.choice(LETTERS).upper() + word[at + 1 :]
        records.append(copy)
        truth.append(person)
    order = list(range(len(records)))
    rng.shuffle(order)
    return [records[i] for i in order], [truth[i] for i in order]


def quality(groups: list[object], truth: list[int]) -> tuple[int, float, float]:
    """(links, precision, recall) of the pairs a grouping links, against the true persons."""
    linked = sum(c * (c - 1) // 2 for c in Counter(groups).values())
    true_pairs = sum(c * (c - 1) // 2 for c in Counter(truth).values())
    correct = sum(c * (c - 1) // 2 for c in Counter(zip(groups, truth, strict=True)).values())
    return linked, (correct / linked if linked else 1.0), (correct / true_pairs if true_pairs else 1.0)


def partition(groups: list[object]) -> tuple[int, ...]:
    """Each record's group as the first record in it (the same whatever the pseudonyms' key)."""
    first: dict[object, int] = {}
    return tuple(first.setdefault(g, i) for i, g in enumerate(groups))


def in_child(work: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run ``work(*args)`` in a forked process; its result with the growth of that process's peak RSS (MiB)."""
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        return dict(pool.apply(_measured, (work, *args)))


def _measured(work: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = work(*args)
    result["peak_mib"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return result


def run_matching(
    records: list[dict[str, Any]], truth: list[int], batch_pairs: int, memory_limit: str
) -> dict[str, Any]:
    comparisons = largest = 0
    score_pairs = matching.score_pairs

    def counted(a: dict[str, Any], b: dict[str, Any]) -> matching.Scores:
        nonlocal comparisons, largest
        comparisons += len(a["family"])
        largest = max(largest, len(a["family"]))
        return score_pairs(a, b)

    matching.score_pairs = counted  # type: ignore[assignment] # the bench counts the pairs the blocking lets through
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        wh = Warehouse.open(directory / "warehouse", _keyring(directory))
        frame = pd.DataFrame(
            {"ref": [f"Patient/{i}" for i in range(len(records))], "family": [r["family"] for r in records],
             "used_family": [None] * len(records), "given": [r["given"] for r in records],
             "birth": [r["birth"].isoformat() for r in records], "gender": [r["gender"] for r in records],
             "birth_place": [r["birth_place"] for r in records], "ins": [None] * len(records)}
        )  # fmt: skip
        wh.omop.register("generated", frame)
        wh.omop.execute(
            "CREATE TEMP TABLE patients AS SELECT * REPLACE (used_family::VARCHAR AS used_family, ins::VARCHAR AS ins) "
            "FROM generated"
        )
        started = time.perf_counter()
        with wh.vault_connection():
            out = matching.assign(wh, "fhir:Patient", "bench", batch_pairs=batch_pairs, memory_limit=memory_limit)
        seconds = time.perf_counter() - started
        by_ref = dict(wh.omop.execute("SELECT ref, pseudonym FROM temp.assigned").fetchall())
        wh.close()
    groups = [by_ref[f"Patient/{i}"] for i in range(len(records))]
    del by_ref
    links, precision, recall = quality(groups, truth)
    possible = sum(1 for a in out if a.outcome == "possible")
    return {"seconds": seconds, "comparisons": comparisons, "largest": largest, "links": links,
            "precision": precision, "recall": recall, "review": possible,
            "groups": hash(partition(groups))}  # fmt: skip


def run_exact(records: list[dict[str, Any]], truth: list[int]) -> dict[str, Any]:
    started = time.perf_counter()
    first: dict[tuple[str, str, date], int] = {}
    groups = [first.setdefault((normalise(r["family"]), normalise(r["given"]), r["birth"]), i)
              for i, r in enumerate(records)]  # fmt: skip
    seconds = time.perf_counter() - started
    links, precision, recall = quality(list(groups), truth)
    return {"seconds": seconds, "comparisons": 0, "largest": 0, "links": links, "precision": precision,
            "recall": recall, "review": 0}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identities", type=int, default=100_000)
    parser.add_argument("--batch-pairs", type=int, default=matching.BATCH_PAIRS,
                        help="the most candidate pairs a batch of matching holds")  # fmt: skip
    parser.add_argument("--memory-limit", default=matching.MEMORY_LIMIT, help="DuckDB's memory while matching")
    args = parser.parse_args()
    console = Console(width=170)

    records, truth = identities(args.identities)
    records_only = "santegarde matching.assign, DuckDB memory unlimited (before)"
    bounded = f"santegarde matching.assign, DuckDB memory_limit {args.memory_limit} (now)"
    sides = {records_only: in_child(run_matching, records, truth, args.batch_pairs, "100GB"),
             bounded: in_child(run_matching, records, truth, args.batch_pairs, args.memory_limit),
             "exact (name, first name, birth date)": in_child(run_exact, records, truth)}  # fmt: skip
    if sides[records_only].pop("groups") != sides[bounded].pop("groups"):
        raise SystemExit("the two runs gave different persons")
    base = sides["exact (name, first name, birth date)"]["seconds"]
    table = Table(title=f"Identity matching: {len(records):,} records ({args.identities:,} persons + 5 % duplicates)")
    for column in ("side", "seconds", "× exact", "records/s", "pairs/s", "largest batch (pairs)", "links",
                   "precision", "recall", "to review", "peak RSS +MiB"):  # fmt: skip
        table.add_column(column, justify="left" if column == "side" else "right")
    for name, r in sides.items():
        pairs = f"{r['comparisons'] / r['seconds']:,.0f}" if r["comparisons"] else "—"
        table.add_row(
            name, f"{r['seconds']:.2f}", f"{r['seconds'] / base:.1f}", f"{len(records) / r['seconds']:,.0f}", pairs,
            f"{r['largest']:,}" if r["largest"] else "—",
            f"{r['links']:,}", f"{r['precision']:.4f}", f"{r['recall']:.4f}", f"{r['review']:,}",
            f"{r['peak_mib']:.0f}",
        )  # fmt: skip
    console.print(table)
    matched = sides[bounded]
    console.print(f"Candidate pairs scored: {matched['comparisons']:,} ({matched['comparisons'] / len(records):.1f} "
                  "per record).")  # fmt: skip


if __name__ == "__main__":
    main()
