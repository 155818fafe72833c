"""One Spark session for the warehouse, with sentences for what stops it (no Java, no PySpark, no master)."""

from __future__ import annotations

import os
import shutil
import sys
from typing import TYPE_CHECKING

from santegarde import refusals
from santegarde.errors import WordedError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class SparkEngineError(WordedError):
    """Spark cannot run the warehouse; the message says what is missing and what to do (French by default).

    Worded from the catalogue (``data/refusals.yaml``, ``spark``).
    """

    def __init__(self, key: str, /, **facts: object) -> None:
        self.key = key
        super().__init__(refusals.sentences("spark", key, **facts))


def java_available() -> bool:
    """Whether a Java runtime can be found (``JAVA_HOME/bin/java`` or ``java`` on the PATH)."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return True
    return shutil.which("java") is not None


def session(master: str, *, shuffle_partitions: int = 4, app: str = "santegarde-warehouse") -> SparkSession:
    """The process's Spark session on ``master`` (created once, then reused), UI off, session time zone UTC."""
    if not java_available():
        raise SparkEngineError("java_missing")
    try:
        from pyspark import SparkContext
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkEngineError("pyspark_missing") from None
    builder = (
        SparkSession.builder.master(master)
        .appName(app)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the workers run this interpreter: the same kernel
    running = SparkContext._active_spark_context
    if running is not None and running.master != master:  # getOrCreate would silently reuse it
        raise SparkEngineError("other_master", running=running.master, master=master)
    try:
        return builder.getOrCreate()
    except Exception as exc:
        raise SparkEngineError("master_unreachable", master=master, error=_first_line(exc)) from None


def _first_line(exc: BaseException) -> str:
    """The first line of a Spark/Java error (never its stack), or its type's name."""
    text = str(exc).strip().splitlines()
    return text[0][:200] if text and text[0].strip() else type(exc).__name__
