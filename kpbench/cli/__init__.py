"""The ``kpbench`` command. One module per verb; heavy imports live inside each handler."""

from __future__ import annotations

import argparse
import logging
import sys

from kpbench import __version__
from kpbench.cli import compare, data, demo, info, listing, new_plugin, run, sweep, sync
from kpbench.errors import KpbenchError

VERBS = (run, listing, info, compare, data, demo, new_plugin, sweep, sync)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kpbench",
        description="Benchmark keypoint methods: one harness, any method, any dataset.",
        epilog="Start with `kpbench demo`, then `kpbench list` and `kpbench run --method M --dataset D`.",
    )
    parser.add_argument("--version", action="version", version=f"kpbench {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show debug logs and tracebacks"
    )
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND")
    for verb in VERBS:
        verb.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for re-launches (run --devices)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="kpbench: %(message)s"
    )
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
        return int(args.handler(args) or 0)
    except KpbenchError as exc:
        if args.verbose:
            raise
        print(f"kpbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kpbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `kpbench compare ... | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
