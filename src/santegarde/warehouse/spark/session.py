"""One Spark session for the warehouse, with sentences for what stops it (no Java, no PySpark, no master)."""

from __future__ import annotations

import os
import shutil
import sys
from typing import TYPE_CHECKING

from santegarde.errors import SantegardeError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class SparkEngineError(SantegardeError):
    """Spark cannot run the warehouse; the message says what is missing and what to do."""


def java_available() -> bool:
    """Whether a Java runtime can be found (``JAVA_HOME/bin/java`` or ``java`` on the PATH)."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return True
    return shutil.which("java") is not None


def session(master: str, *, shuffle_partitions: int = 4, app: str = "santegarde-warehouse") -> SparkSession:
    """The process's Spark session on ``master`` (created once, then reused), UI off, session time zone UTC."""
    if not java_available():
        raise SparkEngineError(
            "Java is missing: the warehouse's Spark engine needs a Java 17 runtime. Install it "
            "(Debian: apt-get install openjdk-17-jre-headless, or scripts/bootstrap spark) or set JAVA_HOME."
        )
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkEngineError(
            "PySpark is not installed: install santegarde's spark extra (pip install 'santegarde[spark]', or "
            "scripts/bootstrap spark) to use warehouse.engine: spark."
        ) from None
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
    try:
        return builder.getOrCreate()
    except Exception as exc:
        raise SparkEngineError(
            f"Spark could not start on the master {master} ({type(exc).__name__}): check that the master URL is "
            "right and reachable from this machine (spark://host:7077 answers, or use local[2] on one machine)."
        ) from None
