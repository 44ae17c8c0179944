"""Command line: ``python -m devtools serve`` (the app on this machine, against Azurite)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _serve(args: argparse.Namespace) -> int:
    from devtools.local_host import serve

    return serve(port=args.port, processes=args.processes)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m devtools")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the app locally against Azurite")
    serve.add_argument("--port", type=int, default=7071)
    serve.add_argument(
        "--processes",
        type=int,
        default=None,
        help="worker processes polling the queues (default FUNCTIONS_WORKER_PROCESS_COUNT or 1)",
    )
    serve.set_defaults(handler=_serve)

    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
