"""The ``replens`` group: one place where errors become one line on stderr and an exit status.

A user error (missing file, wrong shape, unknown measure, a bad option value) prints
``replens: error: ...`` on one line and exits with status 2; ``--debug`` shows the traceback
instead. Results go to stdout; progress and logs to stderr (:func:`log`).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from click.exceptions import NoArgsIsHelpError

from ..errors import ReplensError

USER_ERRORS = (ReplensError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError,
               ImportError)


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
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _one_line_usage(exc) from exc
        except USER_ERRORS as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"replens: error: {one_line(exc)}", err=True)
            ctx.exit(2)


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


def search_current_directory() -> None:
    """Let module.path:name specs name modules in the current directory, as `python -m` does."""
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.version_option(package_name="replens")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Measure how similar two neural-network representations are."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
