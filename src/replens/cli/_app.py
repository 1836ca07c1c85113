"""The ``replens`` group: one place where errors become one line on stderr and an exit status.

A user or system error (missing file, wrong shape, unknown measure, a bad option value, a
damaged file, disk full, a read-only folder, a name too long, not enough memory) prints
``replens: error: ...`` on one line and exits with status 2; anything else is a bug in replens
and prints ``replens: internal error: ...`` on one line with exit status 1. ``--debug`` shows
the traceback instead. Warnings print as one line each (``replens: warning: ...``), without
the source line Python's default adds. Results go to stdout; progress and logs to stderr
(:func:`log`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from click.exceptions import NoArgsIsHelpError

from ..errors import ReplensError

USER_ERRORS = (ReplensError, OSError, MemoryError, ImportError)
"""Errors that are the user's or the system's (exit 2); every other exception is a bug (exit 1)."""


class OneLineUsageError(click.UsageError):
    """A usage error (bad option value, missing option) shown as one ``replens: error:`` line."""

    def show(self, file: Any = None) -> None:
        hint = f" See '{self.ctx.command_path} --help'." if self.ctx is not None else ""
        click.echo(f"replens: error: {one_line(self.format_message())}{hint}", file=file, err=file is None)


class Group(click.Group):
    """Turns user errors into one line on stderr and exit status 2 (unless --debug)."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise _one_line_usage(exc) from exc

    def invoke(self, ctx: click.Context) -> Any:
        with one_line_warnings():
            try:
                return super().invoke(ctx)
            except click.UsageError as exc:
                raise _one_line_usage(exc) from exc
            except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
                raise
            except USER_ERRORS as exc:
                if _debug(ctx):
                    raise
                click.echo(f"replens: error: {_user_message(exc)}", err=True)
                ctx.exit(2)
            except Exception as exc:
                if _debug(ctx):
                    raise
                if type(exc).__name__ == "OutOfMemoryError":  # torch's (a RuntimeError): a device out of memory
                    click.echo(f"replens: error: {_user_message(MemoryError(one_line(exc)))}", err=True)
                    ctx.exit(2)
                click.echo(f"replens: internal error: {type(exc).__name__}: {one_line(exc)}. This is a bug in "
                           f"replens; please report it with the output of the same command run as "
                           f"'replens --debug ...'.", err=True)
                ctx.exit(1)


def _debug(ctx: click.Context) -> bool:
    return bool(ctx.obj and ctx.obj.get("debug"))


def _user_message(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        detail = one_line(exc) if str(exc) else "an allocation failed"
        return (f"not enough memory ({detail}). Use fewer or smaller layers, a smaller --chunk-size or "
                f"--batch-size, or a machine with more memory.")
    return one_line(exc)


@contextmanager
def one_line_warnings() -> Iterator[None]:
    """Show each warning as one line on stderr while the block runs, without a source line.

    replens's own warnings (its warning classes, or raised from its modules) read
    ``replens: warning: <message>``; others ``warning: <Category>: <message>``.
    """
    original = warnings.showwarning

    def show(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None,
             line: Any = None) -> None:
        ours = category.__module__.startswith("replens") or f"{os.sep}replens{os.sep}" in filename
        prefix = "replens: warning: " if ours else f"warning: {category.__name__}: "
        click.echo(prefix + one_line(str(message)), err=True)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = original


def _one_line_usage(exc: click.UsageError) -> click.UsageError:
    if isinstance(exc, (NoArgsIsHelpError, OneLineUsageError)):
        return exc
    return OneLineUsageError(exc.format_message(), ctx=exc.ctx)


def one_line(exc: BaseException | str) -> str:
    """An exception's message (or a text) with its whitespace collapsed to single spaces."""
    text = exc if isinstance(exc, str) else (str(exc) or type(exc).__name__)
    if isinstance(exc, OSError) and exc.filename is not None:
        text = f"{exc.strerror or text}: {exc.filename}"
    return " ".join(text.split())


def log(message: str) -> None:
    """One line of progress on stderr."""
    click.echo(message, err=True)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.version_option(package_name="replens")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Measure how similar two neural-network representations are."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
