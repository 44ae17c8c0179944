"""``python -m devtools.snap_sandbox``: run the Snap sandbox in the foreground (loopback only)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ._server import is_loopback, serve


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; each maps to a ``/_sandbox/config`` key."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.snap_sandbox",
        description="Local double of the Snap Marketing API and Snap OAuth.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = free)")
    parser.add_argument("--expires-in", type=int, help="access-token lifetime in s (1800)")
    parser.add_argument(
        "--rotate-refresh-tokens", action="store_true", help="refresh returns a new refresh token"
    )
    parser.add_argument("--no-rate-limits", action="store_true", help="disable the 429 limiter")
    parser.add_argument(
        "--redirect-uri",
        action="extend",
        nargs="+",
        metavar="URI",
        help="registered redirect URI(s); replaces the defaults; repeatable",
    )
    parser.add_argument("--processing-seconds", type=float, help="PROCESSING -> COMPLETE delay")
    parser.add_argument("--client-id", help="OAuth client id (sandbox-client-id)")
    parser.add_argument("--client-secret", help="OAuth client secret (sandbox-client-secret)")
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The startup config given on the command line."""
    config: dict[str, Any] = {}
    if args.expires_in is not None:
        config["expires_in"] = args.expires_in
    if args.rotate_refresh_tokens:
        config["rotate_refresh_tokens"] = True
    if args.no_rate_limits:
        config["enforce_rate_limits"] = False
    if args.redirect_uri:
        config["redirect_uris"] = list(args.redirect_uri)
    if args.processing_seconds is not None:
        config["processing_seconds"] = args.processing_seconds
    if args.client_id is not None:
        config["client_id"] = args.client_id
    if args.client_secret is not None:
        config["client_secret"] = args.client_secret
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = parse_args(argv)
    if not is_loopback(args.host):
        print(f"error: --host must be a loopback address, not {args.host!r}", file=sys.stderr)
        return 2
    try:
        serve(args.host, args.port, config_from_args(args))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
