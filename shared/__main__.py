"""Command line: ``python -m shared dry-run ...`` (the file check, :mod:`shared.dry_run`) and
``python -m shared verify-deployment ...`` (the post-deploy check,
:mod:`shared.verify_deployment`).

It needs only the runtime dependencies. Local development commands (``serve``) are in
:mod:`devtools` (``python -m devtools serve``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from shared.csv_source import SourceError


def _dry_run(args: argparse.Namespace) -> int:
    from shared.dry_run import DryRunOptions, dry_run

    options = DryRunOptions(
        source=Path(args.source),
        email_column=args.email_column,
        phone_column=args.phone_column,
        mobile_ad_id_column=args.mobile_ad_id_column,
        default_region=args.default_region,
        segment=args.segment,
        native=not args.python_reader,
    )
    try:
        if args.hashes_out:
            with open(args.hashes_out, "w", encoding="utf-8", newline="\n") as out:
                summary = dry_run(options, out)
        else:
            summary = dry_run(options)
    except SourceError as exc:
        print(f"dry-run: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"dry-run: {exc.filename or args.source}: {exc.strerror}", file=sys.stderr)
        return 2
    print(json.dumps(summary, sort_keys=False))
    return 0


def _region(code: str) -> str:
    from shared.identifiers import phone_region

    try:
        return phone_region(code)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _verify(args: argparse.Namespace) -> int:
    from shared.verify_deployment import main as verify

    return verify(args.url, token_env=args.token_env, client_id=args.client_id)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m shared")
    commands = parser.add_subparsers(dest="command", required=True)

    dry = commands.add_parser("dry-run", help="check an export or CSV file; send nothing")
    dry.add_argument("source", help="export folder (holding model.json) or one CSV file")
    dry.add_argument("--email-column", required=True)
    dry.add_argument("--phone-column")
    dry.add_argument("--mobile-ad-id-column")
    dry.add_argument(
        "--default-region",
        default="US",
        type=_region,
        help="ISO 3166-1 alpha-2 region of phone numbers without a country code (e.g. GB)",
    )
    dry.add_argument("--segment", help="entity of model.json (needed when there are several)")
    dry.add_argument("--hashes-out", help="write SCHEMA<TAB>hash lines, sorted")
    dry.add_argument(
        "--python-reader",
        action="store_true",
        help="read with the Python reference reader only (slower; the same result)",
    )
    dry.set_defaults(handler=_dry_run)

    verify = commands.add_parser(
        "verify-deployment", help="check a deployed app (authentication, callback, settings)"
    )
    verify.add_argument("url", help="the app's address, e.g. https://<app>.azurewebsites.net")
    verify.add_argument(
        "--client-id",
        help="client id of the app's Entra registration: get an Admin token from `az login`",
    )
    verify.add_argument("--token-env", help="environment variable holding an Admin access token")
    verify.set_defaults(handler=_verify)

    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
