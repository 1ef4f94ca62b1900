"""``session-importer serve``: build the workspace, check the bind address, run uvicorn."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

from importer.core.errors import ConfigurationError

__all__ = ["PASSWORD_VARIABLE", "add_arguments", "serve_command"]

#: The environment variable holding the page's password (also a bearer token for scripts).
PASSWORD_VARIABLE = "IMPORTER_WEB_PASSWORD"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``serve``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0: any free)")
    parser.add_argument(
        "--config", type=Path, metavar="ACCOUNTS.toml", help="the accounts ([[account]] tables)"
    )
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="start the embedded sandbox on 127.0.0.1 and serve its accounts",
    )
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="uploads, results and one journal per account (default: "
        "$IMPORTER_STATE_DIR/web, else ~/.cache/session-importer/web; a fresh one with "
        "--sandbox, removed when it stops)",
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME[:PORT]",
        help="a host name the page answers to, as browsers send it (repeat for more; default: "
        "the bind address, localhost, 127.0.0.1 and [::1], with the port); any other Host is "
        "refused (421), so no other web site can reach the page by DNS rebinding",
    )
    parser.add_argument(
        "--max-upload-mb", type=float, default=20, metavar="MB", help="largest upload (default 20)"
    )
    parser.add_argument(
        "--max-rows",
        type=int,
        default=50_000,
        metavar="N",
        help="most rows a sheet (default 50000)",
    )


def serve_command(args: argparse.Namespace) -> int:
    """Serve the page until Ctrl-C; running imports are stopped as Ctrl-C stops ``run``."""
    # lazy: the parser half of this module is read by every command (validate's start-up)
    import uvicorn

    from importer.core.hosts import is_loopback
    from importer.core.secret import Secret
    from importer.web.accounts import Account, load_accounts, sandbox_accounts
    from importer.web.app import create_app
    from importer.web.hosts import allowed_hosts
    from importer.web.password import check_length
    from importer.web.workspace import Workspace

    password = os.environ.get(PASSWORD_VARIABLE) or None
    if password is not None:
        check_length(password, PASSWORD_VARIABLE)
    if not is_loopback(args.host) and not password:
        raise ConfigurationError(
            f"refusing to serve on {args.host} without a password: anyone who can reach it "
            f"could import into your accounts. Set {PASSWORD_VARIABLE}, or bind 127.0.0.1."
        )
    accounts: list[Account] = load_accounts(args.config) if args.config else []
    sandbox_server = None
    if args.sandbox:
        from importer.sandbox import Sandbox, SandboxServer
        from importer.vendors import sandbox_parts

        sandbox = Sandbox(sandbox_parts())
        sandbox_server = SandboxServer(sandbox.app).start()
        accounts += sandbox_accounts(sandbox.describe(sandbox_server.url))
    data = args.data or _default_data(args.sandbox)
    throwaway = args.data is None and args.sandbox  # describes a sandbox that ends with us
    try:
        workspace = Workspace(
            accounts, data, max_rows=args.max_rows, max_bytes=int(args.max_upload_mb * 1e6)
        )
        listener = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((args.host, args.port))
        except OSError as error:
            raise ConfigurationError(
                f"cannot listen on {args.host}:{args.port} ({error.strerror})."
            ) from None
        listener.listen(128)
        host, port = listener.getsockname()[:2]
        allowed = allowed_hosts(args.host, port, args.allowed_host)
        app = create_app(workspace, Secret(password) if password else None, None, allowed)
        shown = f"[{host}]" if ":" in host else host
        if sandbox_server is not None:
            print(f"Sandbox accounts: the embedded sandbox at {sandbox_server.url}.")
        print(f"Serving the import page on http://{shown}:{port}/ (data in {data}); Ctrl-C stops.")
        sys.stdout.flush()
        config = uvicorn.Config(
            app, log_level="warning", timeout_graceful_shutdown=3, lifespan="off"
        )
        try:
            uvicorn.Server(config).run(sockets=[listener])
        except KeyboardInterrupt:
            pass  # uvicorn re-raises the Ctrl-C it handled: stopping is what the user asked
        finally:
            # Runs in progress stop as Ctrl-C stops `run`: their result sheets get written.
            workspace.shutdown()
            listener.close()
        print("The page is stopped.", file=sys.stderr)
    finally:
        if sandbox_server is not None:
            sandbox_server.stop()
        if throwaway:  # its uploads, results and journals: of a sandbox that is gone now
            shutil.rmtree(data, ignore_errors=True)
            print(f"Removed the sandbox's data folder {data}.", file=sys.stderr)
    return 0


def _default_data(sandbox: bool) -> Path:
    if sandbox:
        # The embedded sandbox starts empty: so must the journals that describe it.
        return Path(tempfile.mkdtemp(prefix="importer-web-sandbox-"))
    state = os.environ.get("IMPORTER_STATE_DIR")
    root = Path(state) if state else Path.home() / ".cache" / "session-importer"
    return root / "web"
