"""A SparkSession from a :class:`~userseg.config.SparkConfig`: ``local[2]`` or a cluster.

Java and PySpark are checked first, so that a machine without them gets a
sentence saying what to install, not a Py4J traceback; a ``spark://`` master is
probed with one TCP connection, so that an unreachable master is a clear error
in seconds instead of Spark retrying for a minute.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
from typing import Any

from userseg.config import SparkConfig
from userseg.engine.dialect import SPARK_SQL_CONF
from userseg.errors import ConfigError

__all__ = ["java_available", "pyspark_available", "spark_session"]

_STANDALONE = re.compile(r"^spark://(?P<hosts>[^/]+)/?$")


def java_available() -> bool:
    """Whether a Java runtime can be found (``JAVA_HOME`` or ``java`` on the PATH)."""
    home = os.environ.get("JAVA_HOME")
    if home and os.path.exists(os.path.join(home, "bin", "java")):
        return True
    return shutil.which("java") is not None


def pyspark_available() -> bool:
    """Whether PySpark is installed (the ``spark`` extra)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return False
    return True


def _check_master(master: str, timeout: float = 5.0) -> None:
    """Fail fast when a standalone master (``spark://h1:7077,h2:7077``) answers on no address."""
    m = _STANDALONE.match(master)
    if not m:
        if master.startswith(("local", "yarn", "k8s://", "mesos://")):
            return
        raise ConfigError(
            f"spark.master={master!r} is not a Spark master URL; expected local[N], "
            "spark://host:port, yarn or k8s://…"
        )
    errors = []
    for hostport in m.group("hosts").split(","):
        host, _, port = hostport.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"spark.master={master!r}: {hostport!r} should be host:port.")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return
        except OSError as exc:
            errors.append(f"{hostport}: {exc.strerror or exc}")
    raise ConfigError(
        f"Spark master {master} is unreachable ({'; '.join(errors)}); check the URL and that "
        "the master is running, or use spark.master: local[2].",
        details={"master": master},
    )


def spark_session(config: SparkConfig | None = None, *, app_name: str = "userseg") -> Any:
    """Start (or join) the SparkSession the engine runs in.

    Parameters
    ----------
    config : SparkConfig, optional
        Master URL, memory, partitions, extra settings; ``local[2]`` by default.
    app_name : str
        The application's name in Spark's UI.

    Returns
    -------
    pyspark.sql.SparkSession
        With UTC as the session time zone and naive timestamps, as the DuckDB
        engine reads them (:data:`userseg.engine.dialect.SPARK_SQL_CONF`).

    Raises
    ------
    ConfigError
        Java or PySpark missing, a malformed or unreachable master.
    """
    config = config or SparkConfig()
    config.validate()
    if not pyspark_available():
        raise ConfigError(
            "engine: spark needs PySpark: pip install 'userseg[spark]' (see docs/scale.md)."
        )
    if not java_available():
        raise ConfigError(
            "engine: spark needs a Java runtime (17 or 21): install one (Debian/Ubuntu: "
            "apt-get install openjdk-17-jre-headless) or set JAVA_HOME; see README."
        )
    _check_master(config.master)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name).master(config.master)
    settings = {
        **SPARK_SQL_CONF,
        "spark.sql.shuffle.partitions": str(config.partitions),
        "spark.default.parallelism": str(config.partitions),
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    if config.master.startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
        # the workers run this interpreter (this environment's userseg, numba, pyarrow),
        # not whatever `python3` the PATH finds first; PySpark reads the variable itself
        os.environ["PYSPARK_PYTHON"] = sys.executable
    if config.driver_memory:
        settings["spark.driver.memory"] = config.driver_memory
    if config.executor_memory:
        settings["spark.executor.memory"] = config.executor_memory
    settings.update({str(k): str(v) for k, v in config.conf.items()})
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # Py4J / Java start-up errors, wrapped at the boundary
        raise ConfigError(f"cannot start Spark at {config.master}: {exc}") from None
    # getOrCreate joins a running session: settings that may change at run time are set again
    for key in (*SPARK_SQL_CONF, "spark.sql.shuffle.partitions"):
        spark.conf.set(key, settings[key])
    spark.sparkContext.setLogLevel("ERROR")
    return spark
