"""``session-importer serve``: build the workspace, check the bind address, run uvicorn."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from importer.core.errors import ConfigurationError

if TYPE_CHECKING:
    from importer.core.secret import Secret
    from importer.jobs.mailer import Mailer
    from importer.web.access import Access
    from importer.web.accounts import AccountsFile
    from importer.web.oidc_provider import OidcSettings
    from importer.web.proxy import ProxyUsers

__all__ = ["PASSWORD_VARIABLE", "add_arguments", "serve_command"]

#: The environment variable holding the page's password (also a bearer token for scripts).
PASSWORD_VARIABLE = "IMPORTER_WEB_PASSWORD"
#: The client secret of ``--auth oidc`` (oidc_provider.SECRET_VARIABLE: this parser is light).
_OIDC_SECRET = "IMPORTER_OIDC_CLIENT_SECRET"
_OIDC_FLAGS = ("oidc_issuer", "oidc_client_id", "oidc_user_claim", "oidc_groups_claim",
               "oidc_scope", "public_url")  # fmt: skip


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
        "--auth",
        choices=("none", "password", "proxy", "oidc"),
        help="how the page knows who is there: none (a name typed on the page; loopback "
        f"only), password (the shared password of ${PASSWORD_VARIABLE}), proxy (the user is "
        "a header set by the company's sign-on proxy, see --user-header and --trusted-proxy), "
        "oidc (sign-in at the company's OpenID Connect provider, see --oidc-issuer, "
        f"--oidc-client-id and ${_OIDC_SECRET}); "
        f"default: password when ${PASSWORD_VARIABLE} is set, else none",
    )
    parser.add_argument(
        "--user-header",
        metavar="NAME",
        help="with --auth proxy: the header holding the user (default: X-Forwarded-User)",
    )
    parser.add_argument(
        "--groups-header",
        metavar="NAME",
        help="with --auth proxy: a header in which the proxy passes the user's groups, "
        'comma-separated (e.g. X-Forwarded-Groups), for an account\'s users = ["group:NAME"]; '
        "read only when given: the proxy must set it on every request",
    )
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        metavar="ADDRESS",
        help="with --auth proxy: an address (or network, 10.0.0.0/24) of the proxy, whose "
        "header alone is believed; repeat for more (default: 127.0.0.1 and ::1); a request "
        "from any other address is refused (401)",
    )
    parser.add_argument(
        "--oidc-issuer",
        metavar="URL",
        help="with --auth oidc: the provider's issuer, exactly as its discovery document "
        "(URL/.well-known/openid-configuration) names it; https unless on loopback",
    )
    parser.add_argument(
        "--oidc-client-id",
        metavar="ID",
        help="with --auth oidc: this page's client ID at the provider (its secret: "
        f"${_OIDC_SECRET})",
    )
    parser.add_argument(
        "--oidc-user-claim",
        metavar="CLAIM",
        help="with --auth oidc: the ID token's claim naming the user (default: email; a "
        "sign-in whose email_verified is false is then refused)",
    )
    parser.add_argument(
        "--oidc-groups-claim",
        metavar="CLAIM",
        help="with --auth oidc: the claim listing the user's groups, matched by an account's "
        'users = ["group:NAME"] (default: groups; absent: no groups)',
    )
    parser.add_argument(
        "--oidc-scope",
        metavar="SCOPES",
        help="with --auth oidc: the scopes asked for (default: 'openid email profile'; add "
        "groups where the provider gives the groups claim for that scope only)",
    )
    parser.add_argument(
        "--public-url",
        metavar="URL",
        help="with --auth oidc: the page's address as browsers reach it (https://import."
        "example.com); the provider sends them back to URL/oidc/callback: register that "
        "(default: http://HOST:PORT, on loopback only)",
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
    import shutil
    import socket

    import uvicorn

    from importer.core.hosts import is_loopback
    from importer.web.access import Access
    from importer.web.accounts import Account, AccountsFile, load_accounts, sandbox_accounts
    from importer.web.app import create_app
    from importer.web.hosts import allowed_hosts
    from importer.web.workspace import Workspace

    password, proxy, oidc_settings = _sign_in(args)
    if not is_loopback(args.host) and password is None and proxy is None and oidc_settings is None:
        raise ConfigurationError(
            f"refusing to serve on {args.host} without a password: anyone who can reach it "
            f"could import into your accounts. Set {PASSWORD_VARIABLE}, use --auth proxy "
            "behind a sign-on proxy, or bind 127.0.0.1."
        )
    configured = load_accounts(args.config) if args.config else AccountsFile([])
    accounts: list[Account] = list(configured.accounts)
    access = Access(configured.admins, named=proxy is not None or oidc_settings is not None)
    access.check(accounts, args.auth or ("password" if password is not None else "none"))
    mailer = _mailer(configured, access)
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
            accounts,
            data,
            max_rows=args.max_rows,
            max_bytes=int(args.max_upload_mb * 1e6),
            notify=mailer,
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
        shown = f"[{host}]" if ":" in host else host
        oidc = None
        if oidc_settings is not None:
            from importer.web.oidc_provider import OidcProvider

            if not oidc_settings.public_url:
                oidc_settings = replace(oidc_settings, public_url=f"http://{shown}:{port}")
            oidc = OidcProvider(oidc_settings)
        public = [urlsplit(oidc_settings.public_url).netloc] if oidc_settings is not None else []
        allowed = allowed_hosts(args.host, port, [*args.allowed_host, *public])
        app = create_app(workspace, password, None, allowed, proxy, access, oidc)
        if sandbox_server is not None:
            print(f"Sandbox accounts: the embedded sandbox at {sandbox_server.url}.")
        print(f"Serving the import page on http://{shown}:{port}/ (data in {data}); Ctrl-C stops.")
        if proxy is not None:
            print(
                f"Users: the {proxy.header} header of requests from "
                f"{', '.join(str(network) for network in proxy.trusted)} only.",
                file=sys.stderr,
            )
        if oidc_settings is not None:
            print(
                f"Users: sign in at {oidc_settings.issuer} as client {oidc_settings.client_id}; "
                f"its redirect URI: {oidc_settings.redirect_uri}.",
                file=sys.stderr,
            )
        sys.stdout.flush()
        config = uvicorn.Config(
            app,
            log_level="warning",
            timeout_graceful_shutdown=3,
            lifespan="off",
            # The client's address is the connection's peer, never X-Forwarded-For (uvicorn
            # believes it from 127.0.0.1 by default): the trusted proxy and the wait after
            # wrong passwords both go by it.
            proxy_headers=False,
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


def _mailer(configured: AccountsFile, access: Access) -> Mailer | None:
    """The accounts file's [notify], its password read now (a missing one refused at start);
    only with a sign-in that vouches for the user's name: a name typed on the page (no
    sign-in, or a shared password) would send learners' data to any address typed."""
    # lazy: the parser half of this module is read by every command (validate's start-up)
    from importer.jobs.mailer import Mailer

    if configured.notify is None:
        return None
    if not access.named:
        raise ConfigurationError(
            f"{configured.notify.source}: [notify] emails a run's result to whoever started "
            "it, which needs a sign-in that names the user (--auth proxy or --auth oidc): with "
            "a shared password or none, the name is typed on the page. Add it, or leave "
            "[notify] out."
        )
    return Mailer.of(configured.notify, os.environ)


def _sign_in(
    args: argparse.Namespace,
) -> tuple[Secret | None, ProxyUsers | None, OidcSettings | None]:
    """The page's way of knowing its user, from ``--auth`` and the password's variable:
    (the password, None, None), (None, the proxy's header, None), (None, None, the OIDC
    provider's settings, its public URL empty when it is to be http://HOST:PORT) or
    (None, None, None)."""
    from importer.core.hosts import is_loopback
    from importer.core.secret import Secret
    from importer.web.password import check_length
    from importer.web.proxy import DEFAULT_HEADER, DEFAULT_TRUSTED, ProxyUsers

    password = os.environ.get(PASSWORD_VARIABLE) or None
    auth = args.auth or ("password" if password is not None else "none")
    proxy_flags = (args.user_header, args.trusted_proxy, args.groups_header)
    if auth != "proxy" and any(flag is not None for flag in proxy_flags):
        raise ConfigurationError(
            "--user-header, --groups-header and --trusted-proxy are for --auth proxy: add it, "
            "or leave them out."
        )
    given = [name for name in _OIDC_FLAGS if getattr(args, name) is not None]
    if auth != "oidc" and given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise ConfigurationError(f"{flags}: for --auth oidc: add it, or leave them out.")
    if auth != "password" and password is not None:  # so nobody thinks it guards the page
        raise ConfigurationError(
            f"{PASSWORD_VARIABLE} is set, but --auth {auth} does not ask for it: unset it, "
            "or choose --auth password."
        )
    if auth == "proxy":
        header = args.user_header if args.user_header is not None else DEFAULT_HEADER
        trusted = args.trusted_proxy or DEFAULT_TRUSTED
        return None, ProxyUsers(header, trusted, args.groups_header), None
    if auth == "oidc":
        from importer.web.oidc_provider import oidc_settings

        if args.public_url is None and not is_loopback(args.host):
            raise ConfigurationError(
                f"--auth oidc on {args.host} needs --public-url: the https address browsers "
                "reach the page at (the provider sends them back there)."
            )
        options = {
            "user_claim": args.oidc_user_claim,
            "groups_claim": args.oidc_groups_claim,
            "scope": args.oidc_scope,
        }
        settings = oidc_settings(
            args.oidc_issuer,
            args.oidc_client_id,
            os.environ.get(_OIDC_SECRET),
            public_url=args.public_url,
            **{name: value for name, value in options.items() if value is not None},
        )
        return None, None, settings
    if auth == "password":
        if password is None:
            raise ConfigurationError(
                f"--auth password needs the page's password in {PASSWORD_VARIABLE} "
                "(at least 12 characters)."
            )
        check_length(password, PASSWORD_VARIABLE)
        return Secret(password), None, None
    return None, None, None


def _default_data(sandbox: bool) -> Path:
    if sandbox:
        import tempfile  # see serve_command

        # The embedded sandbox starts empty: so must the journals that describe it.
        return Path(tempfile.mkdtemp(prefix="importer-web-sandbox-"))
    state = os.environ.get("IMPORTER_STATE_DIR")
    root = Path(state) if state else Path.home() / ".cache" / "session-importer"
    return root / "web"
