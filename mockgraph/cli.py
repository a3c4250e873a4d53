"""The ``mockgraph`` command: ``serve``, ``record``, ``token``, ``ca`` and the build tools'
``contracts``, with click as Flask uses it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from mockgraph.build.commands import contracts
from mockgraph.config import Config
from mockgraph.features.requestlog import FORMATS
from mockgraph.features.tokens import GRAPH_AUDIENCE, make_token
from mockgraph.http.errors import StartupError
from mockgraph.http.intake import is_loopback
from mockgraph.serve import tls
from mockgraph.serve.banner import banner
from mockgraph.serve.production import Listen, serve
from mockgraph.serve.worker import Build


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mockgraph")
def main() -> None:
    """A local mock of the Microsoft Graph beta trustFramework APIs."""


main.add_command(contracts)
_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_STATE = click.Path(dir_okay=False, path_type=Path)
_DIR = click.Path(file_okay=False, path_type=Path)


def _listen(
    host: str, port: int, allow_remote: bool, https: bool, cert: Path | None, key: Path | None
) -> Listen:
    if not is_loopback(host) and not allow_remote:
        raise click.UsageError(
            f"refusing to bind {host}: it is not a loopback address (pass --allow-remote)"
        )
    if not is_loopback(host):
        click.secho(
            f"WARNING: mockgraph is reachable from other machines on {host}:{port}; "
            "it accepts any bearer token.",
            fg="red",
            err=True,
        )
    if (cert is None) != (key is None):
        raise click.UsageError("--cert and --key go together")
    if not (https or cert or key):
        return Listen(host, port)
    try:
        chain, private = tls.server_files(cert, key)
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None
    return Listen(host, port, chain, private)


def _serve(build: Build, listen: Listen, dev: bool, lines: Any) -> None:
    try:
        status = serve(build, listen, dev=dev, announce=lines)
    except StartupError as exc:  # a bad state file, a port in use...
        raise click.ClickException(str(exc)) from None
    sys.exit(status)


def _say(lines: list[str]) -> None:
    click.echo("\n".join(lines), err=True)


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--allow-remote", is_flag=True, help="Allow binding a non-loopback address.")
@click.option(
    "--allow-host",
    "allowed_hosts",
    multiple=True,
    help="A Host name to answer besides loopback ones; repeat.",
)
@click.option(
    "--tls", "https", is_flag=True, help="Serve HTTPS with a certificate of mockgraph's own CA."
)
@click.option("--cert", type=_FILE, help="Serve HTTPS with this certificate chain (PEM).")
@click.option("--key", type=_FILE, help="The private key of --cert (PEM).")
@click.option("--dev", is_flag=True, help="Use Werkzeug's development server instead.")
@click.option(
    "--threads",
    default=8,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Threads for the requests that may wait (key generation, fsync).",
)
@click.option("--state", type=_STATE, help="Load key sets from this JSON file at start.")
@click.option(
    "--state-file",
    type=_STATE,
    help="Load key sets from this file and keep it current after every write.",
)
@click.option(
    "--record",
    "record_dir",
    type=_DIR,
    help="Write every exchange to this folder as an example file.",
)
@click.option("--fault", "faults", multiple=True, help="A fault rule; repeat for several.")
@click.option("--journal-size", type=click.IntRange(0), help="Exchanges the journal keeps.")
@click.option(
    "--journal-bytes",
    type=click.IntRange(0),
    help="Bytes the journal keeps (default 8 MiB); the oldest exchanges leave first.",
)
@click.option("--no-auth", is_flag=True, help="Accept requests without a bearer token.")
@click.option(
    "--app",
    "apps",
    multiple=True,
    metavar="CLIENT_ID:SECRET=ROLE[,ROLE]",
    help="An app the sign-in authority knows; repeat.",
)
@click.option(
    "--verify-tokens", is_flag=True, help="Accept only tokens the mock's authority signed."
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    help="An origin browsers may call from (default: any localhost origin); '*' for any; repeat.",
)
@click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="The request log on stderr.",
)
@click.option("--quiet", is_flag=True, help="No request log.")
def serve_command(
    host: str,
    port: int,
    allow_remote: bool,
    allowed_hosts: tuple[str, ...],
    https: bool,
    cert: Path | None,
    key: Path | None,
    dev: bool,
    threads: int,
    faults: tuple[str, ...],
    apps: tuple[str, ...],
    cors_origins: tuple[str, ...],
    log_format: str,
    quiet: bool,
    **options: Any,
) -> None:
    """Serve the mock at http(s)://HOST:PORT/beta."""
    listen = _listen(host, port, allow_remote, https, cert, key)
    config = Config.from_env()
    changes: dict[str, Any] = {k: v for k, v in options.items() if v is not None and v is not False}
    if changes.pop("no_auth", False):
        changes["require_auth"] = False
    config = config.replace(
        host=host,
        port=port,
        allow_remote=allow_remote,
        allowed_hosts=config.allowed_hosts + allowed_hosts,
        faults=config.faults + faults,
        apps=config.apps + apps,
        tls=listen.cert is not None,
        cert=cert,
        key=key,
        cors_origins=cors_origins or config.cors_origins,
        log=None if quiet else log_format,
        **changes,
    )
    ca = tls.ensure().ca if https and cert is None else None
    server = "Werkzeug's development server" if dev else "granian"
    pool = None if dev else threads  # the development server makes a thread per connection
    build = Build(
        "mockgraph.serve.worker:mock", {"config": config.to_json()}, threads, config.max_body_bytes
    )
    _serve(build, listen, dev, lambda root, _: _say(banner(config, root, server, pool, ca)))


@main.command()
@click.option("--upstream", required=True, help="Base URL to forward /beta to (a real Graph).")
@click.option("--out", required=True, type=_DIR, help="Folder to write the exchanges to.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--allow-remote", is_flag=True, help="Allow binding a non-loopback address.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
@click.option(
    "--timeout",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds to wait for the upstream's answer.",
)
@click.option(
    "--contracts",
    "contracts_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of contracts to check against (default: the ones installed with mockgraph).",
)
@click.option(
    "--allow-upstream",
    multiple=True,
    help="A host to forward to besides Microsoft Graph's own (tokens go there); repeat.",
)
def record(
    upstream: str,
    out: Path,
    host: str,
    port: int,
    allow_remote: bool,
    threads: int,
    timeout: float,
    contracts_dir: Path | None,
    allow_upstream: tuple[str, ...],
) -> None:
    """A recording proxy at http://HOST:PORT/beta: forwards every request to UPSTREAM, returns
    its answer unchanged, checks both directions against the contracts and writes each
    exchange into OUT (secrets redacted)."""
    from mockgraph.features.proxy import GRAPH_HOSTS, Upstream

    listen = _listen(host, port, allow_remote, False, None, None)
    try:
        target = Upstream.parse(upstream, GRAPH_HOSTS | set(allow_upstream))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--upstream") from None
    kwargs = {
        "upstream": upstream,
        "out": str(out),
        "timeout": timeout,
        "allowed_hosts": list(allow_upstream),
        "contracts": str(contracts_dir) if contracts_dir else None,
    }
    build = Build("mockgraph.serve.worker:proxy", kwargs, threads)
    _say([f"recording {target.url} into {out}"])
    _serve(
        build,
        listen,
        False,
        lambda root, _: _say([f"mockgraph record proxy at {root}/beta; Ctrl+C to stop"]),
    )


@main.command()
@click.option("--scp", help='Delegated permissions, space-separated: "A B".')
@click.option("--roles", multiple=True, help="An application permission; repeat for several.")
@click.option(
    "--exp",
    "expires_in",
    default=3600,
    show_default=True,
    type=int,
    help="Lifetime in seconds from now; negative makes an expired token.",
)
@click.option("--aud", default=GRAPH_AUDIENCE, show_default=True, help="The audience claim.")
def token(scp: str | None, roles: tuple[str, ...], expires_in: int, aud: str) -> None:
    """Print a test access token (a JWT, not verified by the mock) holding --scp or --roles."""
    if (scp is None) == (not roles):
        raise click.UsageError("give either --scp (delegated) or --roles (application)")
    click.echo(make_token(scp=scp, roles=roles or None, expires_in=expires_in, audience=aud))


@main.command()
def ca() -> None:
    """Print the path of mockgraph's CA certificate (made when missing; MOCKGRAPH_HOME chooses
    the folder), the file clients trust for `serve --tls`."""
    files = tls.ensure()
    click.echo(f"# Node: NODE_EXTRA_CA_CERTS={files.ca}")
    click.echo(f"# Python: SSL_CERT_FILE={files.ca} REQUESTS_CA_BUNDLE={files.ca}")
    click.echo(f"# Chromium: --ignore-certificate-errors-spki-list={tls.spki_pin(files.ca)}")
    click.echo(str(files.ca))
