"""GDAL failures that rasterio logs instead of raising (a block write, or the directory written at
close, failing on a full disk), collected while a file is written."""

from __future__ import annotations

import logging
import threading

_GDAL_FAILURE = "GDAL signalled an error"
_RASTERIO_LOGGERS = ("rasterio._env", "rasterio._err", "rasterio._io")


class GdalFailures(logging.Handler):
    """GDAL failures that rasterio logs (at INFO) instead of raising, e.g. a block write or the
    directory written at close failing on a full disk: collected while a file is written. The
    log is the process's, so a failure while several files are written fails each of them."""

    _lock = threading.Lock()
    _users = 0
    _levels: dict[str, int] = {}

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.failures: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith(_GDAL_FAILURE):
            args = record.args if isinstance(record.args, tuple) else ()
            self.failures.append(str(args[-1]) if args else record.getMessage())

    def __enter__(self) -> "GdalFailures":
        with GdalFailures._lock:
            if GdalFailures._users == 0:  # rasterio's INFO records are dropped unless asked for
                for name in _RASTERIO_LOGGERS:
                    log = logging.getLogger(name)
                    GdalFailures._levels[name] = log.level
                    if log.getEffectiveLevel() > logging.INFO:
                        log.setLevel(logging.INFO)
            GdalFailures._users += 1
            for name in _RASTERIO_LOGGERS:
                logging.getLogger(name).addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with GdalFailures._lock:
            for name in _RASTERIO_LOGGERS:
                logging.getLogger(name).removeHandler(self)
            GdalFailures._users -= 1
            if GdalFailures._users == 0:
                for name, level in GdalFailures._levels.items():
                    logging.getLogger(name).setLevel(level)
