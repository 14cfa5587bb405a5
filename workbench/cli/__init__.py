"""`instructedit` command line: train | eval | edit | ask | sequence | analyze | figures | reproduce | sweep |
instructions [list|optimize|compare]. One registry of commands, each module owning its commands' flags;
every command checks its inputs (`checks`) before it loads a model."""
from __future__ import annotations

import argparse
import logging
import sys

from . import ask, edit_command, editing, experiments, instructions, sequence
from .common import log

COMMANDS = (editing.COMMANDS | edit_command.COMMANDS | ask.COMMANDS | sequence.COMMANDS | experiments.COMMANDS
            | instructions.COMMANDS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="instructedit", description="Instruction-based knowledge editing (MEND + instructions)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug logging, and transformers' progress bars and warnings (quiet otherwise)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(command)
        command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                             help="as `instructedit --verbose`: debug logging, transformers' progress bars")
        command.set_defaults(run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, ModuleNotFoundError) as err:
        log.error("%s", err)
        return 2


if __name__ == "__main__":
    sys.exit(main())
