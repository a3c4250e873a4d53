"""The ``mockgraph`` command: ``serve``, ``contracts build``/``verify``, ``record`` and
``token``, with click as Flask uses it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from mockgraph import build as contract_build
from mockgraph.app import create_app
from mockgraph.build import verify as verification
from mockgraph.build.table import case_insensitive, operation_specs
from mockgraph.config import Config
from mockgraph.features import proxy
from mockgraph.features.tokens import GRAPH_AUDIENCE, make_token
from mockgraph.http.contracts import Contracts
from mockgraph.http.errors import StartupError
from mockgraph.http.intake import is_loopback
from mockgraph.serve.production import PRODUCTION_SERVERS, quick_requests, run


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mockgraph")
def main() -> None:
    """A local mock of the Microsoft Graph beta trustFramework/keySets API."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--allow-remote", is_flag=True, help="Allow binding a non-loopback address.")
@click.option("--dev", is_flag=True, help="Use Werkzeug's development server instead.")
@click.option(
    "--threads",
    default=8,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Threads for the requests that may wait (key generation, fsync, faults); with "
    "granian, reads and plain writes are answered on its event loop.",
)
@click.option(
    "--server",
    type=click.Choice(["auto", *PRODUCTION_SERVERS]),
    default="auto",
    show_default=True,
    help="Production server (auto: granian, else waitress); --dev overrides it.",
)
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Load key sets from this JSON file at start.",
)
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Load key sets from this file and keep it current after every write.",
)
@click.option(
    "--record",
    "record_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write every exchange to this folder as an example file.",
)
@click.option("--fault", "faults", multiple=True, help="A fault rule; repeat for several.")
@click.option("--journal-size", type=click.IntRange(0), help="Exchanges the journal keeps.")
@click.option(
    "--journal-bytes",
    type=click.IntRange(0),
    help="Body bytes the journal keeps (default 8 MiB); the oldest exchanges leave first.",
)
@click.option("--no-auth", is_flag=True, help="Accept requests without a bearer token.")
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    help="An origin browsers may call from (default: any localhost origin); '*' for any; repeat.",
)
def serve(
    host: str,
    port: int,
    allow_remote: bool,
    dev: bool,
    threads: int,
    server: str,
    state: Path | None,
    state_file: Path | None,
    record_dir: Path | None,
    faults: tuple[str, ...],
    journal_size: int | None,
    journal_bytes: int | None,
    no_auth: bool,
    cors_origins: tuple[str, ...],
) -> None:
    """Serve the mock at http://HOST:PORT/beta."""
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
    config = Config.from_env().replace(host=host, port=port, allow_remote=allow_remote)
    changes: dict[str, Any] = {}
    if state is not None:
        changes["state"] = state
    if state_file is not None:
        changes["state_file"] = state_file
    if record_dir is not None:
        changes["record_dir"] = record_dir
    if faults:
        changes["faults"] = config.faults + faults
    if journal_size is not None:
        changes["journal_size"] = journal_size
    if journal_bytes is not None:
        changes["journal_bytes"] = journal_bytes
    if no_auth:
        changes["require_auth"] = False
    if cors_origins:
        changes["cors_origins"] = cors_origins
    config = config.replace(**changes)
    try:
        app = create_app(config)
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        status = run(
            app, config, dev=dev, threads=threads, server=server, inline=quick_requests(app)
        )
    except StartupError as exc:  # e.g. the port is in use
        raise click.ClickException(str(exc)) from None
    sys.exit(status)


@main.group()
def contracts() -> None:
    """Build and check the JSON Schema contracts and example fixtures."""


@contracts.command("build")
@click.option(
    "--docs",
    "doc_paths",
    multiple=True,
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="A Graph doc page or a folder of them; repeat it, later ones win.",
)
@click.option(
    "--out",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Project root that holds schemas/ and fixtures/examples/.",
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the files differ.")
def build(doc_paths: tuple[Path, ...], out: Path, check: bool) -> None:
    """Turn Graph doc pages into schemas/ contracts and fixtures/examples/."""
    result = contract_build.build(
        list(doc_paths), operation_specs(), case_insensitive=case_insensitive()
    )
    for warning in result.warnings:
        click.echo(f"warning: {warning.file}:{warning.line}: {warning.message}", err=True)
    if not result.files:
        # Writing an empty result would delete every checked-in contract.
        raise click.ClickException("the docs gave no operation or example; nothing written")
    if check:
        stale = contract_build.check(result, out)
        for path in stale:
            click.echo(f"differs: {path}", err=True)
        if stale:
            click.echo(
                f"{len(stale)} file(s) differ from the docs; run without --check to rewrite them",
                err=True,
            )
            sys.exit(1)
        click.echo(f"contracts up to date ({len(result.files)} files)")
        return
    changed = contract_build.write(result, out)
    click.echo(f"wrote {len(changed)} changed file(s) of {len(result.files)}")


def _load_contracts(directory: Path | None) -> Contracts | None:
    """``--contracts DIR``, or ``None`` for the shipped ones; a bad folder is a clean error."""
    if directory is None:
        return None
    try:
        return Contracts.load(directory)
    except Exception as exc:  # a broken contract file: any library's error, shown as one line
        raise click.ClickException(f"cannot load the contracts of {directory}: {exc}") from None


@contracts.command("verify")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--replay", is_flag=True, help="Also replay each request on a fresh mock and compare answers."
)
@click.option(
    "--contracts",
    "contracts_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of contracts to check against (default: the ones installed with mockgraph).",
)
@click.option("-v", "--verbose", is_flag=True, help="Also show the notes (known doc defects).")
def verify(
    paths: tuple[Path, ...], replay: bool, contracts_dir: Path | None, verbose: bool
) -> None:
    """Check example files (folders or files; default: the documented examples installed with
    mockgraph) against the contracts. Exits 1 on any difference."""
    report = verification.verify(paths, replay=replay, contracts=_load_contracts(contracts_dir))
    click.echo(report.format(notes=verbose))
    if report.notes and not verbose:
        click.echo("(--verbose shows the notes)")
    sys.exit(0 if report.ok else 1)


@main.command()
@click.option("--upstream", required=True, help="Base URL to forward /beta to (a real Graph).")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the exchanges to.",
)
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
    help="A host to forward to besides Microsoft Graph's own (tokens go there); repeat it.",
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
    if not is_loopback(host) and not allow_remote:
        # Bearer tokens for the real Graph pass through the proxy.
        raise click.UsageError(
            f"refusing to bind {host}: it is not a loopback address (pass --allow-remote)"
        )
    try:
        app = proxy.create_proxy(
            upstream,
            out,
            contracts=_load_contracts(contracts_dir),
            timeout=timeout,
            allowed_hosts=allow_upstream,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--upstream") from None
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None
    target = proxy.proxy_of(app).upstream.url
    click.echo(f"recording {target} into {out}", err=True)
    try:
        status = run(app, Config(host=host, port=port), threads=threads)
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(status)


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
