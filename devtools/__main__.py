"""Command line: ``python -m devtools serve`` (the app on this machine, against Azurite) and
``python -m devtools up`` (``make serve``: Azurite, the Snap sandbox, a sample export and the
app together)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _serve(args: argparse.Namespace) -> int:
    from devtools.local_host import serve

    return serve(port=args.port, processes=args.processes)


def _up(args: argparse.Namespace) -> int:
    from devtools.dev_stack import main

    return main(port=args.port)


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

    up = commands.add_parser(
        "up",
        help="Azurite, the Snap sandbox, a sample export and the app, until Ctrl-C (make serve)",
    )
    up.add_argument("--port", type=int, default=7071, help="the app's port (default 7071)")
    up.set_defaults(handler=_up)

    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
