"""``mockgraph contracts build`` and ``mockgraph contracts verify``: the build tools' commands.
The tools are imported when a command runs, so the other commands (``serve``) neither load
them nor depend on them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from mockgraph.http.contracts import Contracts


@click.group()
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
    from mockgraph.build import assemble
    from mockgraph.build.spec import case_insensitive, operation_specs

    result = assemble.build(list(doc_paths), operation_specs(), case_insensitive=case_insensitive())
    for warning in result.warnings:
        click.echo(f"warning: {warning.file}:{warning.line}: {warning.message}", err=True)
    if not result.files:
        # Writing an empty result would delete every checked-in contract.
        raise click.ClickException("the docs gave no operation or example; nothing written")
    if check:
        stale = assemble.check(result, out)
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
    changed = assemble.write(result, out)
    click.echo(f"wrote {len(changed)} changed file(s) of {len(result.files)}")


def _load_contracts(directory: Path | None) -> Contracts | None:
    """``--contracts DIR``, or ``None`` for the shipped ones; a bad folder is a clean error."""
    from mockgraph.http.contracts import Contracts

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
    from mockgraph.build import verify as verification

    report = verification.verify(paths, replay=replay, contracts=_load_contracts(contracts_dir))
    click.echo(report.format(notes=verbose))
    if report.notes and not verbose:
        click.echo("(--verbose shows the notes)")
    sys.exit(0 if report.ok else 1)
