"""Logging set up by `cyray.init(logging_level=..., logging_format=..., configure_logging=...)`,
as Ray's init sets up its "ray" logger: the "cyray" logger of the driver gets the level and
one stream handler, and the processes the driver starts get the level through the
CYRAY_log_level config knob."""

import logging
import os

# Ray's default format for its logger (ray_constants.LOGGER_FORMAT).
LOGGER_FORMAT = "%(asctime)s\t%(levelname)s %(filename)s:%(lineno)s -- %(message)s"
_handler = None


def logging_level(value):
    """The numeric level of init(logging_level=...): a logging level or its name."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"logging_level takes a logging level such as logging.INFO or "
                        f"'info', got {type(value).__name__} {value!r}")
    if isinstance(value, str):
        level = logging.getLevelName(value.upper())
        if not isinstance(level, int):
            raise ValueError(f"Unknown logging_level {value!r}; use one of 'debug', 'info', "
                             "'warning', 'error', 'critical' or a number")
        return level
    return value


def configure_logger(level, logging_format=None):
    """Sets up the "cyray" logger as Ray sets up "ray": the level and one stream handler
    (kept across init/shutdown cycles), not propagated to the root logger."""
    global _handler
    logger = logging.getLogger("cyray")
    logger.setLevel(level)
    if _handler is None:
        _handler = logging.StreamHandler()
        logger.addHandler(_handler)
    _handler.setFormatter(logging.Formatter(logging_format or LOGGER_FORMAT))
    logger.propagate = False


def process_log_level(level, explicit):
    """The CYRAY_log_level ("debug", "info", "warning" or "error") for the processes the
    driver starts, or None to leave them the environment's: a CYRAY_log_level set by the
    user wins over the default level, an explicit logging_level wins over it."""
    if not explicit and "CYRAY_log_level" in os.environ:
        return None
    if level <= logging.DEBUG:
        return "debug"
    if level <= logging.INFO:
        return "info"
    if level <= logging.WARNING:
        return "warning"
    return "error"
