"""The `s4d` command line: one Typer app, one module per group of subcommands.

Subcommand modules import JAX (or Lava) inside their functions, so `s4d compile` and `s4d zoo` start
without loading JAX. Errors a user can fix are printed as one line, not a traceback (set S4D_DEBUG=1 for one).
"""
from __future__ import annotations

import errno
import importlib
import os
import re
import sys

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Train, quantize, export and compile S4D models for Loihi 2.")



@app.callback()
def _root() -> None:
    """Train, quantize, export and compile S4D models for Loihi 2."""


# Exceptions that mean "bad input or environment", reported without a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
               PermissionError, KeyError)
# Other OSErrors the user fixes on their side: a full disk or quota, a file size limit, a read-only mount.
USER_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)


def _register() -> None:
    for name in ("demo", "train", "quantize", "bench", "compile", "zoo", "plot"):  # the order of `s4d --help`
        importlib.import_module(f"s4d.cli.{name}").register(app)


def cli_flag(name: str) -> str:
    """A parameter's command-line flag, for error messages: max_chips → --max-chips."""
    return "--" + name.replace("_", "-")


def main() -> None:
    _register()
    try:
        app()
    except (*USER_ERRORS, OSError) as err:
        if os.environ.get("S4D_DEBUG") or (type(err) is OSError and err.errno not in USER_ERRNOS):
            raise
        print(f"error: {one_line(err)}", file=sys.stderr)
        sys.exit(2)
    except Exception as err:
        if os.environ.get("S4D_DEBUG") or (message := out_of_memory(err)) is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def out_of_memory(err: BaseException) -> str | None:
    """The one-line report of an allocation that failed (Python's MemoryError, or XLA's out-of-memory runtime
    error, which names the bytes it wanted), else None. A model or batch too large for the machine is the
    user's to change, like a model too large for the chip."""
    text = str(err)
    if not (isinstance(err, MemoryError) or (type(err).__name__ in ("XlaRuntimeError", "JaxRuntimeError")
                                             and re.search(r"out of memory|RESOURCE_EXHAUSTED", text, re.I))):
        return None
    wanted = re.search(r"allocating (\d+) bytes", text)
    size = f" (XLA asked for {int(wanted.group(1)) / 2**30:.1f} GiB)" if wanted else ""
    return f"out of memory{size}: a smaller --batch-size needs less, or run it on a machine with more memory"


def one_line(err: BaseException) -> str:
    """The message of a user error on one line (a KeyError's own repr quotes it; OSError gives its file)."""
    if isinstance(err, KeyError) and err.args:
        message = str(err.args[0])
    elif isinstance(err, OSError) and err.strerror:
        message = err.strerror + (f": {err.filename}" if err.filename else "")
    else:
        message = str(err) or type(err).__name__
    return " ".join(message.split())

