"""The ``inferlab`` command (also ``python -m inferlab``).

    python -m inferlab check exercises/01_ops.ipynb     grade a notebook (exit 0 only if all pass)
    python -m inferlab make-exercises [--check] [--force]
    python -m inferlab doctor                            this machine's environment report

Exit status: 0 success, 1 a task fails / exercises are stale / an overwrite was refused,
2 bad arguments, paths or notebooks (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inferlab.errors import InferlabError

USAGE_ERROR = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not the usage block
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="inferlab",
        description="inferlab: grade exercises, generate student notebooks, check this machine.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    check = sub.add_parser(
        "check",
        help="grade exercise notebooks: a per-task report (never writes to the notebook)",
        description="Run a copy of each notebook and report every task: PASS, FAIL (with a "
        "hint), NOT ATTEMPTED or ERROR. Exit 0 only if every task of every notebook passes.",
    )
    check.add_argument("notebooks", nargs="+", metavar="NOTEBOOK", type=Path)
    check.add_argument(
        "--solutions", type=Path, help="the solutions notebook to grade against (default: found)"
    )
    check.add_argument(
        "--timeout", type=int, default=120, help="seconds per cell (default: %(default)s)"
    )

    make = sub.add_parser(
        "make-exercises",
        help="regenerate exercises/ from solutions/ (refuses to overwrite your edits)",
        description="Generate exercises/NN_*.ipynb from solutions/NN_*.ipynb. An exercise you "
        "edited is never overwritten unless --force, which backs it up first.",
    )
    mode = make.add_mutually_exclusive_group()
    mode.add_argument(
        "--check", action="store_true", help="only list stale exercises; exit 1 if any"
    )
    mode.add_argument(
        "--force", action="store_true", help="overwrite edited exercises after backing them up"
    )
    make.add_argument("--solutions-dir", type=Path, help=argparse.SUPPRESS)
    make.add_argument("--exercises-dir", type=Path, help=argparse.SUPPRESS)

    sub.add_parser("doctor", help="print this machine's environment report")
    return parser


def _check(args) -> int:
    from inferlab.grading import grade

    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        raise _UsageError(f"no such notebook: {', '.join(missing)}")
    if args.timeout < 1:
        raise _UsageError("--timeout must be at least 1 second")
    if args.solutions is not None and not args.solutions.is_file():
        raise _UsageError(f"no such solutions notebook: {args.solutions}")
    all_passed = True
    for i, path in enumerate(args.notebooks):
        if i:
            print()
        result = grade(path, solutions=args.solutions, timeout=args.timeout)
        all_passed = all_passed and result.all_passed
    return 0 if all_passed else 1


def _make_exercises(args) -> int:
    from inferlab.authoring import make_exercises, stale_exercises

    for folder in (args.solutions_dir,):
        if folder is not None and not folder.is_dir():
            raise _UsageError(f"no such folder: {folder}")
    if args.check:
        stale = stale_exercises(args.solutions_dir, args.exercises_dir)
        return 1 if stale else 0
    actions = make_exercises(args.solutions_dir, args.exercises_dir, force=args.force)
    return 1 if any(a.status == "refused" for a in actions) else 0


def _doctor(args) -> int:
    try:
        from inferlab.doctor import doctor
    except ImportError as e:
        raise _UsageError(f"the doctor is not available: {e}") from None
    doctor()
    return 0


class _UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2): return the code, don't raise
        return e.code if isinstance(e.code, int) else 0
    commands = {"check": _check, "make-exercises": _make_exercises, "doctor": _doctor}
    if args.command is None:
        parser.print_help(sys.stderr)
        return USAGE_ERROR
    try:
        return commands[args.command](args)
    except (_UsageError, InferlabError) as e:
        print(f"inferlab {args.command}: error: {e}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("inferlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
