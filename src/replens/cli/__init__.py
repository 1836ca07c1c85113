"""The one ``replens`` command: a click group with one module per command.

``_app`` holds the group and turns errors into one line and an exit status; ``compare``,
``extract``, ``measures`` and ``demo`` each define one command (``demo`` with its ``pair``
subcommand). Only this package parses arguments, prints or exits; heavy libraries (torch,
transformers, matplotlib) load inside the commands, so ``replens --help`` stays fast.
"""

from ._app import main
from .compare import compare_command
from .demo import demo_command
from .extract import extract_command
from .measures import measures_command
from .reproduce import reproduce_command
from .verify import verify_command
from .sweep import sweep_command

for _command in (compare_command, extract_command, measures_command, demo_command, reproduce_command, verify_command):
    main.add_command(_command)
main.add_command(sweep_command)

__all__ = ["main"]
