"""``mockgraph contracts verify``: example files (documented, shipped as ``mockgraph.examples``,
or recorded) checked against the contracts and, with ``replay``, replayed; the report. Known doc
defects are notes, not failures: in a documented example, a write-only member in the answer, a
contract violation at a placeholder, and the differences of :data:`KNOWN_DOC_DEFECTS`. A report
never shows a secret (contract messages name the property; bodies are redacted)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from mockgraph.build.replay import replay_examples
from mockgraph.features.recording import check_exchange
from mockgraph.http.codec import MAX_DEPTH, depth
from mockgraph.http.contracts import Contracts, packaged
from mockgraph.resources.examples import is_placeholder

#: Where the shipped documented examples are shown in reports.
PACKAGE_EXAMPLES = "mockgraph.examples"
WRITE_ONLY_NOTE = "doc defect: the page shows a write-only member the service never returns"
PLACEHOLDER_NOTE = "doc placeholder, not a real value"
#: Differences between a documented answer and the mock that are defects of the doc page:
#: (example name, property path) -> why.
KNOWN_DOC_DEFECTS: dict[tuple[str, str], str] = {
    ("trustframeworkkeyset_generatekey", "nbf"): (
        "the page answers another nbf than its request sends"
    ),
    ("trustframeworkkeyset_generatekey", "exp"): (
        "the page answers another exp than its request sends"
    ),
    ("trustframeworkkeyset_generatekey", "x5c"): (
        "the page shows an empty x5c; a generated key has no certificate chain, the mock "
        "leaves the member out"
    ),
    ("trustframeworkkeyset_uploadsecret", "kty"): (
        'the page spells kty "OCT"; JWK kty values are case-sensitive and RFC 7518 registers "oct"'
    ),
    ("trustframeworkkeyset_uploadcertificate", "kty"): (
        "the page answers kty oct for a certificate; its key is RSA"
    ),
    ("trustframeworkkeyset_uploadpkcs12", "kty"): (
        "the page answers kty OCT for a PFX; its key is RSA"
    ),
}
#: The deepest example file: a body as deep as the mock accepts, inside request/response.
MAX_FILE_DEPTH = MAX_DEPTH + 4

_NUMBERED = re.compile(r"^(\d+)-")
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class Finding:
    """One thing verify found in one file; ``known`` says why it is only a note."""

    file: str
    #: ``file``, ``contract``, ``request contract``, ``response contract``, ``status``,
    #: ``header``, ``body`` or ``replay``
    where: str
    path: str  #: a property path (``keys[0].kid``), a header name, or empty
    message: str
    known: str | None = None

    @property
    def failure(self) -> bool:
        return self.known is None

    def line(self) -> str:
        # Contract messages already quote the property path.
        shown = self.path and f"'{self.path}'" not in self.message
        place = f"{self.where} {self.path}" if shown else self.where
        suffix = f" [{self.known}]" if self.known else ""
        return f"  {'FAIL' if self.failure else 'note'} {place}: {self.message}{suffix}"


@dataclass
class Report:
    """What :func:`verify` found: every file looked at, and the findings."""

    files: list[str]
    findings: list[Finding] = field(default_factory=list)
    replayed: bool = False

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.failure]

    @property
    def notes(self) -> list[Finding]:
        return [f for f in self.findings if not f.failure]

    @property
    def ok(self) -> bool:
        return not self.failures

    def format(self, *, notes: bool = True) -> str:
        """The findings (with the notes if ``notes``) file by file, then a summary line."""
        lines: list[str] = []
        for file in self.files:
            found = [f.line() for f in self.findings if f.file == file and (notes or f.failure)]
            if found:
                lines += [file, *found]
        failed = len({f.file for f in self.failures})
        what = "checked and replayed" if self.replayed else "checked"
        differences = f"{len(self.failures)} difference(s) in {failed} file(s)"
        summary = differences if failed else "no differences"
        lines.append(
            f"{len(self.files)} example file(s) {what}: {summary}, {len(self.notes)} note(s)"
        )
        return "\n".join(lines)


@dataclass(frozen=True)
class Example:
    """One example file: ``file`` as reports show it, ``session`` the folder it replays with."""

    file: str
    session: str
    data: Mapping[str, Any]
    request: Mapping[str, Any]
    response: Mapping[str, Any]

    @property
    def documented(self) -> bool:
        return self.data.get("documented") is True

    @property
    def truncated(self) -> bool:
        return self.data.get("truncated") is True

    @property
    def name(self) -> str:
        name = self.data.get("name")
        return name if isinstance(name, str) else Path(self.file).stem

    @property
    def operation(self) -> str | None:
        operation = self.data.get("operation")
        return operation if isinstance(operation, str) else None


def load_examples(paths: Sequence[Path] = ()) -> tuple[list[Example], list[Finding]]:
    """The example files of ``paths`` (folders or files; default: the shipped documented
    examples), and a failure for each file that is not one and each folder without any."""
    if paths:
        sources: list[tuple[str, str, Traversable]] = []
        for path in paths:
            files = sorted(path.glob("*.json"), key=_order) if path.is_dir() else [path]
            session = str(path if path.is_dir() else path.parent)
            sources += [(str(f), session, f) for f in files] or [(str(path), session, path)]
    else:
        root = packaged("examples", "fixtures/examples").iterdir()
        shipped = sorted((e for e in root if e.name.endswith(".json")), key=_order)
        sources = [(f"{PACKAGE_EXAMPLES}/{e.name}", PACKAGE_EXAMPLES, e) for e in shipped]
    examples: list[Example] = []
    problems: list[Finding] = []
    for shown, session, entry in sources:
        if entry.is_dir():
            problems.append(Finding(shown, "file", "", "holds no example files (*.json)"))
            continue
        try:
            # The standard library's parser, for the line number of a syntax error.
            data = json.loads(entry.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            problem = f"cannot be read: {exc}"
        except json.JSONDecodeError as exc:
            problem = f"is not JSON (line {exc.lineno})"
        except RecursionError:
            problem = "is not an example file: nested too deeply"
        else:
            if (shape := _shape_problem(data)) is None:
                examples.append(Example(shown, session, data, data["request"], data["response"]))
                continue
            problem = f"is not an example file: {shape}"
        problems.append(Finding(shown, "file", "", problem))
    return examples, problems


def _order(entry: Traversable) -> tuple[int, str]:
    """Numbered (recorded) files first, in number order; then the others by name."""
    match = _NUMBERED.match(entry.name)
    return (int(match.group(1)) if match else 1 << 62, entry.name)


def _shape_problem(data: Any) -> str | None:
    if depth(data) > MAX_FILE_DEPTH:
        return "nested too deeply"
    if not isinstance(data, dict):
        return "not a JSON object"
    request, response = data.get("request"), data.get("response")
    if not isinstance(request, dict):
        return "no 'request' object"
    if not isinstance(request.get("method"), str) or not isinstance(request.get("path"), str):
        return "the request has no 'method' and 'path'"
    if not isinstance(response, dict):
        return "no 'response' object"
    for part, member in ((request, "query"), (request, "headers"), (response, "headers")):
        if part.get(member) is not None and not isinstance(part[member], dict):
            return f"'{member}' is not an object"
    status = response.get("status")
    if not isinstance(status, int) or isinstance(status, bool):
        return "the response has no integer 'status'"
    return None


def check_example(example: Example, contracts: Contracts) -> list[Finding]:
    """The contract findings of one example (see the module docstring)."""
    operation = example.operation
    contract = contracts.get(operation) if operation else None
    findings: list[Finding] = []
    if operation and contract is None:
        message = f"there is no contract for the operation {operation!r}"
        known = None if example.documented else "checked as an exchange only"
        findings.append(Finding(example.file, "contract", "", message, known))
    bodies = {"request": example.request.get("body"), "response": example.response.get("body")}
    status = example.response["status"]
    for violation in check_exchange(contract, status, bodies["request"], bodies["response"]):
        known = None
        if example.documented and violation.write_only:
            known = WRITE_ONLY_NOTE
        elif example.documented and is_placeholder(_at(bodies[violation.side], violation.path)):
            known = PLACEHOLDER_NOTE
        where = f"{violation.side} contract"
        findings.append(Finding(example.file, where, violation.path, violation.message, known))
    return findings


def _at(body: Any, path: str) -> Any:
    """The value at a property path (``keys[0].kty``), or ``None`` where there is none."""
    for name, index in _PATH_PART.findall(path):
        try:
            body = body[int(index)] if index else body[name]
        except (LookupError, TypeError):
            return None
    return body


def verify(
    paths: Iterable[str | os.PathLike[str]] = (),
    *,
    replay: bool = False,
    contracts: Contracts | None = None,
) -> Report:
    """Check every example file of ``paths`` (default: the shipped documented examples)
    against ``contracts`` (default: the shipped ones), and with ``replay`` replay them.
    Never raises for a bad file: it becomes a failure in the report, listed first."""
    compiled = contracts if contracts is not None else Contracts.load()
    examples, findings = load_examples([Path(p) for p in paths])
    files = [f.file for f in findings] + [e.file for e in examples]
    for example in examples:
        findings += check_example(example, compiled)
    if replay:
        for example, (where, path, message, known) in replay_examples(examples, compiled):
            if example.documented and where == "body":
                known = KNOWN_DOC_DEFECTS.get((example.name, path))
            findings.append(Finding(example.file, where, path, message, known))
    return Report(files=files, findings=findings, replayed=replay)
