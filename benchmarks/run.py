"""The figures behind mockgraph's speed targets and shortcuts, in one run of interleaved rounds.

    python benchmarks/run.py                                   # every suite, 6 rounds
    python benchmarks/run.py --suite targets --before /work/scratch/before
    python benchmarks/run.py --suite log --suite shortcuts --rounds 7 --json out.json
    python benchmarks/run.py --quick                           # 3 s figures, 2 rounds

Suites (each its own set of target processes, measured in its own interleaved rounds):

* ``targets``: the issue's targets. mockgraph as ``mockgraph serve`` serves it (request log
  on, text, stderr to a file) and a bare Flask handler with a dict store on the same server;
  the same two of the ``--before`` checkout (``BEFORE/benchmarks/targets.py`` run by
  ``BEFORE/venv/bin/python``: that commit's own server and bare app); a mockgraph of each
  holding 100,000 key sets; Prism 5 (``npx @stoplight/prism-cli@5 mock``, static examples) on
  mockgraph's own OpenAPI document. Then, outside the load: the RSS of 100,000 stored key sets
  (``memory.py``), the live-server start and the per-test reset (``bench_fixtures.py``), of
  each checkout, alternated.
* ``log``: the request log's cost: ``--quiet`` against ``--log-format text`` with stderr to a
  file and to /dev/null, and ``--log-format json`` to a file; get and create.
* ``shortcuts``: each shortcut against its absence (``targets.py``'s switches): the bridge
  answering quick requests on its loop vs always on the pool (mockgraph, bare Flask), the
  jsonschema_rs verdict vs jsonschema alone (and validation off).

Every figure is requests/s (p50, p99) of one wrk run (1 thread, 8 connections, as
PERFORMANCE.md's figures; after a warm-up) against one target. A round measures every figure
of the suite once, figure after figure, so that two figures a ratio compares are taken seconds
apart; a figure is the median of its rounds and a ratio the median of its rounds' ratios, with
the range of the rounds beside it: on a shared 2-core machine the load drifts over minutes.
Without wrk, a Python load generator whose figures compare only with each other.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks import loadgen  # noqa: E402
from benchmarks.bodies import PLACEHOLDER, create_template, seed_id  # noqa: E402

TOKEN = "Bearer benchmark-token"
COLLECTION = "/trustFramework/keySets"
SCENARIOS = ("create", "get", "list10", "list100", "mix")
#: Seeded key sets of every target (gets and lists read them; the mix reads them at random).
SEEDED = 100
BIG = 100_000
URL_LINE = re.compile(r"(http://\S+?)/beta\b")
SUITES = ("targets", "log", "shortcuts")

Say = Callable[[str], None]


# -- targets -----------------------------------------------------------------------------------


@dataclass
class Spec:
    """How to start one target: its command, where it runs, where its stderr goes (a file
    path, or ``/dev/null``) and, for targets of this checkout, the file it writes its URL to."""

    name: str
    command: list[str]
    cwd: Path = ROOT
    stderr: Path | None = None
    ready: Path | None = None
    scenarios: tuple[str, ...] = SCENARIOS


@dataclass
class Live:
    """A started target: its base URL (``http://host:port``), path prefix and process."""

    name: str
    origin: str
    prefix: str
    process: subprocess.Popen[bytes]
    scenarios: tuple[str, ...] = SCENARIOS

    @property
    def collection(self) -> str:
        return self.prefix + COLLECTION


def after_spec(
    name: str, app: str, workdir: Path, *options: str, log_to: str = "file", **extra: Any
) -> Spec:
    """A target of this checkout: ``benchmarks/targets.py APP OPTIONS``; stderr (the request
    log) to a file of ``workdir`` or to /dev/null."""
    slug = re.sub(r"\W+", "-", name).strip("-")
    stderr = Path(os.devnull) if log_to == "devnull" else workdir / f"{slug}.err"
    ready = workdir / f"{slug}.url"
    command = [sys.executable, str(HERE / "targets.py"), app, "--ready", str(ready), *options]
    return Spec(name, command, ROOT, stderr, ready, **extra)


def before_spec(
    name: str, app: str, before: Path, workdir: Path, *options: str, **extra: Any
) -> Spec:
    """A target of the ``before`` checkout, by its own ``benchmarks/targets.py`` and venv: its
    server as ``mockgraph serve`` picked it (``granian``: the embedded one), URL on stderr."""
    slug = re.sub(r"\W+", "-", name).strip("-")
    python = before / "venv" / "bin" / "python"
    command = [str(python), str(before / "benchmarks" / "targets.py"), app, "granian"]
    command += ["--port", "0", "--threads", "8", *options]
    return Spec(name, command, before, workdir / f"{slug}.err", None, **extra)


def _url_of(spec: Spec) -> str | None:
    source = spec.ready if spec.ready is not None else spec.stderr
    if source is None or not source.exists() or source == Path(os.devnull):
        return None
    found = URL_LINE.search(source.read_text(errors="replace"))
    return found.group(1) if found else None


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"target exited with {process.returncode} before it was ready")
        try:
            request = urllib.request.Request(url, headers={"Authorization": TOKEN})
            with urllib.request.urlopen(request, timeout=5):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} not ready after {timeout} s")


@contextmanager
def started(spec: Spec, timeout: float = 300.0) -> Iterator[Live]:
    """The target of ``spec`` in its own process (session), stopped with SIGTERM."""
    stderr = open(spec.stderr or os.devnull, "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        spec.command,
        cwd=spec.cwd,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        origin = _url_of(spec)
        while origin is None:
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (
                    spec.stderr.read_text()[-2000:] if spec.stderr and spec.stderr.is_file() else ""
                )
                raise RuntimeError(f"{spec.name} did not start:\n{tail}")
            time.sleep(0.05)
            origin = _url_of(spec)
        live = Live(spec.name, origin, "/beta", process, spec.scenarios)
        _wait_ready(origin + live.collection + "?$top=1", process, timeout)
        yield live
    finally:
        stop(process)
        EXITS[spec.name] = process.returncode
        stderr.close()


#: Exit status of every target stopped, by name (0 after a graceful stop).
EXITS: dict[str, int | None] = {}


def tree_state(root: Path) -> str:
    """The commit of ``root`` and a digest of its uncommitted changes to ``mockgraph/`` but its
    build tools (the working tree of a shared checkout may change during a run: the report
    shows whether it did)."""
    import hashlib

    def git(*command: str) -> bytes:
        done = subprocess.run(["git", "-C", str(root), *command], capture_output=True, check=False)
        return done.stdout

    served = ("mockgraph", ":!mockgraph/build")  # the build tools serve nothing
    digest = hashlib.sha1(git("diff", "HEAD", "--", *served))
    for name in git("ls-files", "--others", "--exclude-standard", "--", *served).split():
        digest.update(name + (root / name.decode()).read_bytes())
    return f"{git('rev-parse', '--short', 'HEAD').decode().strip()}+{digest.hexdigest()[:10]}"


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()  # SIGTERM: the graceful stop of both servers
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def prism(document: Path) -> Iterator[Live]:
    """Prism 5 mocking ``document`` with static examples (its default)."""
    npx = shutil.which("npx")
    if npx is None:
        raise RuntimeError("npx is not installed (Node.js)")
    port = free_port()
    command = [npx, "-y", "@stoplight/prism-cli@5", "mock", "-h", "127.0.0.1", "-p", str(port)]
    log = document.with_suffix(".prism.log")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*command, str(document)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while "Prism is listening" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Prism did not start:\n" + log.read_text()[-2000:])
            time.sleep(0.1)
        # Prism matches paths without the servers' base path (/beta).
        yield Live(
            "Prism (static examples)",
            f"http://127.0.0.1:{port}",
            "",
            process,
            ("create", "get", "list10"),
        )
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # npx and the node process it started
            process.wait(timeout=30)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def fetch_openapi(live: Live, into: Path) -> Path:
    """mockgraph's served OpenAPI document, made digestible for Prism (see :func:`for_prism`)."""
    with urllib.request.urlopen(live.origin + "/_mockgraph/openapi.json", timeout=10) as answer:
        document = json.load(answer)
    into.write_text(json.dumps(for_prism(document)))
    return into


def for_prism(node: Any) -> Any:
    """``{"$ref": X, ...more}`` -> ``{"allOf": [{"$ref": X}, {...more}]}``, everywhere.

    Both mean the same in OpenAPI 3.1 (JSON Schema 2020-12), but Prism 5.14 lets the siblings
    replace the referenced schema's keywords: with the create body's ``{"$ref": keySet,
    "properties": {"id": ...}}`` it answers 422 "found 'keys'" to a valid create.
    """
    if isinstance(node, list):
        return [for_prism(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: for_prism(value) for key, value in node.items()}
    if "$ref" in node and len(node) > 1:
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        return {"allOf": [{"$ref": node["$ref"]}, siblings]}
    return node


def rss_tree(pid: int) -> dict[str, float]:
    """RSS in MB of ``pid`` (``main``) and of each process it started (``child <pid>``):
    granian's worker is the served app."""
    out: dict[str, float] = {}

    def one(p: int, label: str) -> None:
        try:
            with open(f"/proc/{p}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        out[label] = round(int(line.split()[1]) / 1024, 1)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", encoding="ascii") as children:
                    for child in children.read().split():
                        one(int(child), f"child {child}")
        except OSError:
            return

    one(pid, "main")
    return out


# -- load --------------------------------------------------------------------------------------


@dataclass
class Result:
    target: str
    scenario: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


@dataclass
class Load:
    duration: float
    warmup: float
    connections: int
    workdir: Path
    body_file: Path
    use_wrk: bool
    runs: int = 0

    def measure(self, live: Live, scenario: str) -> Result:
        if self.warmup > 0:
            self._once(live, scenario, self.warmup)
        figures = self._once(live, scenario, self.duration)
        seconds = figures["duration_us"] / 1e6
        return Result(
            target=live.name,
            scenario=scenario,
            rps=figures["requests"] / seconds if seconds else 0.0,
            p50_ms=figures["p50_us"] / 1000,
            p99_ms=figures["p99_us"] / 1000,
            requests=figures["requests"],
            errors=figures["errors_status"] + figures["errors_socket"],
        )

    def _once(self, live: Live, scenario: str, seconds: float) -> dict[str, Any]:
        self.runs += 1
        tag = f"B2C_1A_r{self.runs}x"  # ids unique across every run against one target
        if self.use_wrk:
            return self._wrk(live, scenario, seconds, tag)
        return self._python(live, scenario, seconds, tag)

    def _path(self, live: Live, scenario: str) -> str:
        if scenario == "get":
            return f"{live.collection}/{seed_id(1)}"
        if scenario in ("list10", "list100"):
            return f"{live.collection}?$top={scenario.removeprefix('list')}"
        return live.collection

    def _wrk(self, live: Live, scenario: str, seconds: float, tag: str) -> dict[str, Any]:
        script = self.workdir / f"{scenario}.lua"
        if not script.exists():
            parts = [(HERE / "wrk" / f"{scenario}.lua")] if scenario in ("create", "mix") else []
            text = "".join(p.read_text() + "\n" for p in [*parts, HERE / "wrk" / "report.lua"])
            script.write_text(text)
        command = [
            "wrk",
            "-t1",
            f"-c{self.connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-H",
            f"Authorization: {TOKEN}",
            "-s",
            str(script),
            live.origin + self._path(live, scenario),
            "--",
            tag,
            str(self.body_file),
            str(SEEDED),
            live.collection,
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        for line in done.stdout.splitlines():
            if line.startswith("BENCH "):
                figures: dict[str, Any] = json.loads(line[6:])
                return figures
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")

    def _python(self, live: Live, scenario: str, seconds: float, tag: str) -> dict[str, Any]:
        template = self.body_file.read_text()
        host, port = live.origin.removeprefix("http://").rsplit(":", 1)
        fixed = self._path(live, scenario)

        def next_request(client: int, n: int) -> loadgen.Request:
            def create() -> loadgen.Request:
                body = template.replace(PLACEHOLDER, f"{tag}{client}_{n}").encode()
                return ("POST", live.collection, body)

            if scenario == "create":
                return create()
            if scenario == "mix":
                slot = n % 10
                if slot < 2:
                    return create()
                if slot < 8:
                    return ("GET", f"{live.collection}/{seed_id((n * 7919) % SEEDED)}", None)
                return ("GET", f"{live.collection}?$top=10", None)
            return ("GET", fixed, None)

        return loadgen.run_load(
            host,
            int(port),
            next_request,
            connections=self.connections,
            duration=seconds,
            headers={"Authorization": TOKEN},
        )


# -- figures -----------------------------------------------------------------------------------


@dataclass
class Figures:
    """Every round's result of every (target, scenario), in round order."""

    rounds: dict[tuple[str, str], list[Result]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def add(self, result: Result) -> None:
        self.rounds.setdefault((result.target, result.scenario), []).append(result)

    def get(self, target: str, scenario: str) -> list[Result] | None:
        found = self.rounds.get((target, scenario))
        if not found or any(r.errors for r in found):
            return None  # an error answer is no measure of the work a right one costs
        return found

    def ratio(
        self, a: tuple[str, str], b: tuple[str, str], *, inverse: bool = False
    ) -> list[float]:
        """Each round's figure ``a`` / figure ``b`` (``b`` / ``a`` with ``inverse``: a ratio
        of times); empty when either is missing or had errors."""
        first, second = self.get(*a), self.get(*b)
        if first is None or second is None:
            return []
        pairs = zip(first, second, strict=False)
        return [(y.rps / x.rps if inverse else x.rps / y.rps) for x, y in pairs if x.rps and y.rps]

    def p99(self, target: str, scenario: str) -> float | None:
        found = self.get(target, scenario)
        return statistics.median(r.p99_ms for r in found) if found else None

    def to_json(self) -> dict[str, Any]:
        return {
            "rounds": [
                {"target": t, "scenario": s, "results": [r.__dict__ for r in results]}
                for (t, s), results in self.rounds.items()
            ],
            "facts": self.facts,
        }


def spread(values: list[float], digits: int = 2) -> str:
    """``median [min-max]``."""
    if not values:
        return "n/a"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def format_figure(results: list[Result]) -> str:
    first = results[0]
    rps = [r.rps for r in results]
    errors = sum(r.errors for r in results)
    return (
        f"  {first.target:<34} {first.scenario:<8} {statistics.median(rps):>7,.0f} req/s "
        f"[{min(rps):,.0f}-{max(rps):,.0f}]"
        f"  p50 {statistics.median(r.p50_ms for r in results):6.2f}"
        f"  p99 {statistics.median(r.p99_ms for r in results):7.2f} ms"
        f" [{min(r.p99_ms for r in results):.1f}-{max(r.p99_ms for r in results):.1f}]"
        + (f"  {errors} ERRORS" if errors else "")
    )


def measure_rounds(lives: list[Live], load: Load, rounds: int, figures: Figures, say: Say) -> None:
    """``rounds`` rounds; each measures every scenario of every target once, scenario by
    scenario (the figures a ratio compares, seconds apart)."""
    plan = [
        (live, scenario) for scenario in SCENARIOS for live in lives if scenario in live.scenarios
    ]
    for number in range(1, rounds + 1):
        began = time.monotonic()
        for live, scenario in plan:
            figures.add(load.measure(live, scenario))
        say(f"  round {number} of {rounds}: {time.monotonic() - began:.0f} s")
    for live, scenario in plan:
        say(format_figure(figures.rounds[(live.name, scenario)]))


# -- the suites --------------------------------------------------------------------------------


AFTER_MG, AFTER_BARE, AFTER_BIG = "after: mockgraph", "after: bare Flask", "after: mockgraph 100k"
BEFORE_MG, BEFORE_BARE, BEFORE_BIG = (
    "before: mockgraph",
    "before: bare Flask",
    "before: mockgraph 100k",
)
PRISM = "Prism (static examples)"


def suite_targets(args: argparse.Namespace, load: Load, figures: Figures, say: Say) -> None:
    work = load.workdir
    big = ("get", "list100")
    specs = [after_spec(AFTER_MG, "mockgraph", work), after_spec(AFTER_BARE, "bare", work)]
    specs.append(after_spec(AFTER_BIG, "mockgraph", work, "--seed", str(BIG), scenarios=big))
    if args.before is not None:
        specs += [
            before_spec(BEFORE_MG, "mockgraph", args.before, work),
            before_spec(BEFORE_BARE, "bare", args.before, work),
            before_spec(
                BEFORE_BIG, "mockgraph", args.before, work, "--seed", str(BIG), scenarios=big
            ),
        ]
    with ExitStack() as stack:
        lives = [stack.enter_context(started(spec)) for spec in specs]
        if args.prism:
            try:
                openapi = fetch_openapi(lives[0], work / "openapi.json")
                lives.append(stack.enter_context(prism(openapi)))
            except (OSError, RuntimeError) as exc:
                say(f"  (Prism not measured: {exc})")
        by_name = {live.name: live for live in lives}
        for name in (AFTER_BIG, BEFORE_BIG):
            if name in by_name:
                figures.facts[f"rss at start: {name}"] = rss_tree(by_name[name].process.pid)
        measure_rounds(lives, load, args.rounds, figures, say)
        for name in (AFTER_BIG, BEFORE_BIG):
            if name in by_name:
                figures.facts[f"rss after load: {name}"] = rss_tree(by_name[name].process.pid)
        # Every target still alive: a stop that fails shows in its exit status.
    for spec in specs:
        figures.facts.setdefault("stderr files", []).append(str(spec.stderr))

    checkouts = {"after": (Path(sys.executable), ROOT)}
    if args.before is not None:
        checkouts["before"] = (args.before / "venv" / "bin" / "python", args.before)
    for turn in range(args.side_runs):
        for which, (python, root) in checkouts.items():
            memory = _json_line(
                [str(python), str(root / "benchmarks" / "memory.py"), "--count", str(BIG)], root
            )
            figures.facts.setdefault(f"memory: {which}", []).append(memory)
            fixtures = _fixture_figures(
                [
                    str(python),
                    "-m",
                    "benchmarks.bench_fixtures",
                    "--starts",
                    str(args.starts),
                    "--resets",
                    "2000",
                ],
                root,
            )
            figures.facts.setdefault(f"fixtures: {which}", []).append(fixtures)
            say(f"  {which} (side run {turn + 1}): memory {memory}; fixtures {fixtures}")


def _json_line(command: list[str], cwd: Path) -> dict[str, Any] | None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": done.stderr.strip()[-500:]}
    found: dict[str, Any] = json.loads(lines[-1])
    return found


FIXTURE_LINE = re.compile(
    r"^\s*(?P<what>.+?)\s+median\s+(?P<median>[\d.]+) ms\s+p90\s+(?P<p90>[\d.]+) ms"
)


def _fixture_figures(command: list[str], cwd: Path) -> dict[str, Any]:
    """``bench_fixtures.py``'s medians and p90s by line (the same lines in both checkouts)."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    out: dict[str, Any] = {}
    for line in done.stdout.splitlines():
        found = FIXTURE_LINE.match(line)
        if found:
            what = found.group("what").split(" (")[0].strip()
            out[what] = [float(found.group("median")), float(found.group("p90"))]
    if done.returncode != 0:
        out["error"] = done.stderr.strip()[-500:]
    return out


LOG_QUIET, LOG_FILE, LOG_NULL, LOG_JSON = (
    "log: --quiet",
    "log: text to a file",
    "log: text to /dev/null",
    "log: json to a file",
)


def suite_log(args: argparse.Namespace, load: Load, figures: Figures, say: Say) -> None:
    work, two = load.workdir, ("create", "get")
    specs = [
        after_spec(LOG_QUIET, "mockgraph", work, "--log", "none", scenarios=two),
        after_spec(LOG_FILE, "mockgraph", work, "--log", "text", scenarios=two),
        after_spec(LOG_NULL, "mockgraph", work, "--log", "text", log_to="devnull", scenarios=two),
        after_spec(LOG_JSON, "mockgraph", work, "--log", "json", scenarios=two),
    ]
    with ExitStack() as stack:
        lives = [stack.enter_context(started(spec)) for spec in specs]
        measure_rounds(lives, load, args.rounds, figures, say)
    lines = sum(1 for _ in open(work / "log-text-to-a-file.err", "rb"))
    figures.facts["log lines written to the text file"] = lines


SC_AUTO, SC_POOL, SC_BARE_LOOP, SC_BARE_POOL = (
    "mockgraph as served",
    "mockgraph, pool only",
    "bare Flask, on the loop",
    "bare Flask, pool only",
)
SC_REFERENCE, SC_NOVALIDATE = "mockgraph, jsonschema alone", "mockgraph, validation off"


def suite_shortcuts(args: argparse.Namespace, load: Load, figures: Figures, say: Say) -> None:
    work = load.workdir
    quiet = ("--log", "none")  # the log's cost is the log suite's: kept out of these ratios
    three, two = ("create", "get", "list100"), ("create", "get")
    specs = [
        after_spec(SC_AUTO, "mockgraph", work, *quiet, scenarios=three),
        after_spec(SC_POOL, "mockgraph", work, *quiet, "--inline", "never", scenarios=three),
        after_spec(SC_BARE_LOOP, "bare", work, scenarios=two),
        after_spec(SC_BARE_POOL, "bare", work, "--inline", "never", scenarios=two),
        after_spec(
            SC_REFERENCE, "mockgraph", work, *quiet, "--engine", "reference", scenarios=three
        ),
        after_spec(SC_NOVALIDATE, "mockgraph", work, *quiet, "--no-validate", scenarios=three),
    ]
    with ExitStack() as stack:
        lives = [stack.enter_context(started(spec)) for spec in specs]
        measure_rounds(lives, load, args.rounds, figures, say)


# -- the report --------------------------------------------------------------------------------


@dataclass
class Goal:
    what: str
    ratio: Callable[[str], list[float]]  #: per side ("before"/"after"): the rounds' ratios
    p99: Callable[[str], str]
    goal: str
    met: Callable[[float], bool]
    higher_is_better: bool


def report_targets(figures: Figures, say: Say) -> None:
    def names(side: str) -> tuple[str, str, str]:
        return (
            (BEFORE_MG, BEFORE_BARE, BEFORE_BIG)
            if side == "before"
            else (AFTER_MG, AFTER_BARE, AFTER_BIG)
        )

    def p99s(*pairs: tuple[int, str]) -> Callable[[str], str]:
        def shown(side: str) -> str:
            values = []
            for index, scenario in pairs:
                name = PRISM if index == 3 else names(side)[index]
                value = figures.p99(name, scenario)
                values.append("n/a" if value is None else f"{value:.1f}")
            return " / ".join(values)

        return shown

    goals = [
        Goal(
            "validated create / Prism create",
            lambda s: figures.ratio((names(s)[0], "create"), (PRISM, "create")),
            p99s((0, "create"), (3, "create")),
            ">= 2",
            lambda v: v >= 2,
            True,
        ),
        Goal(
            "validated create / bare Flask create",
            lambda s: figures.ratio((names(s)[0], "create"), (names(s)[1], "create")),
            p99s((0, "create"), (1, "create")),
            ">= 0.7",
            lambda v: v >= 0.7,
            True,
        ),
        Goal(
            "validated get / bare Flask get",
            lambda s: figures.ratio((names(s)[0], "get"), (names(s)[1], "get")),
            p99s((0, "get"), (1, "get")),
            ">= 0.8",
            lambda v: v >= 0.8,
            True,
        ),
        Goal(
            f"page of 100: time at {BIG:,} / at {SEEDED} stored",
            lambda s: figures.ratio((names(s)[0], "list100"), (names(s)[2], "list100")),
            p99s((2, "list100"), (0, "list100")),
            "<= 1.5",
            lambda v: v <= 1.5,
            False,
        ),
    ]
    say("")
    say("targets: ratio median [range of the rounds]; change: after against before, + better;")
    say("p99 in ms, numerator / denominator")
    say(
        f"  {'target':<42} {'goal':<7} {'before':<20} {'after':<20} {'change':>7}"
        "  p99 before | after"
    )
    for goal in goals:
        before, after = goal.ratio("before"), goal.ratio("after")
        change = ""
        if before and after:
            b, a = statistics.median(before), statistics.median(after)
            better = (a / b - 1) if goal.higher_is_better else (b / a - 1)
            change = f"{better:+.0%}" + (" WORSE" if better < -0.10 else "")
        verdict = (
            "" if not after else (" met" if goal.met(statistics.median(after)) else " NOT MET")
        )
        say(
            f"  {goal.what:<42} {goal.goal:<7} {spread(before):<20} {spread(after):<20}"
            f" {change:>7}  {goal.p99('before')} | {goal.p99('after')}{verdict}"
        )
    for side in ("before", "after"):
        memories = [
            m for m in figures.facts.get(f"memory: {side}", []) if m and "rss_after_mb" in m
        ]
        if memories:
            rss = [m["rss_after_mb"] for m in memories]
            say(
                f"  RSS, {BIG:,} key sets in-process ({side}, <= 200 MB): {spread(rss, 1)} MB "
                f"({statistics.median(m['bytes_per_keyset'] for m in memories):,.0f} B a key set)"
            )
        served = figures.facts.get(f"rss after load: {names(side)[2]}")
        if served:
            say(f"  RSS of the served target holding {BIG:,} ({side}), by process: {served} MB")
        fixtures = figures.facts.get(f"fixtures: {side}", [])
        for label in ("contracts compiled", "cold", "app built", "per-test reset"):
            values = [f[label][0] for f in fixtures if label in f]
            if values:
                say(
                    f"  fixtures ({side}) {label:<20} median of the runs' medians"
                    f" {spread(values, 3)} ms"
                )
    for scenario in ("list10", "list100", "mix"):
        old = figures.ratio((BEFORE_MG, scenario), (BEFORE_BARE, scenario))
        new = figures.ratio((AFTER_MG, scenario), (AFTER_BARE, scenario))
        say(
            f"  (informative) validated {scenario} / bare Flask:"
            f" before {spread(old)}  after {spread(new)}"
        )
    for scenario in SCENARIOS:
        say(
            f"  (informative) after / before, {scenario}: mockgraph "
            f"{spread(figures.ratio((AFTER_MG, scenario), (BEFORE_MG, scenario)))}, bare Flask "
            f"{spread(figures.ratio((AFTER_BARE, scenario), (BEFORE_BARE, scenario)))}"
        )


def report_pairs(
    title: str, rows: list[tuple[str, str, str, str]], figures: Figures, say: Say
) -> None:
    """Rows of (label, scenario, target a, target b): a/b, with both p99s."""
    say("")
    say(title)
    for label, scenario, a, b in rows:
        ratio = figures.ratio((a, scenario), (b, scenario))
        pa, pb = figures.p99(a, scenario), figures.p99(b, scenario)
        p99 = f"p99 {pa:.1f} / {pb:.1f} ms" if pa is not None and pb is not None else ""
        say(f"  {label:<52} {scenario:<8} {spread(ratio):<20} {p99}")


def report_log(figures: Figures, say: Say) -> None:
    rows = [
        (f"{which} / --quiet", scenario, name, LOG_QUIET)
        for scenario in ("get", "create")
        for which, name in (
            ("text to a file", LOG_FILE),
            ("text to /dev/null", LOG_NULL),
            ("json to a file", LOG_JSON),
        )
    ]
    report_pairs(
        "the request log: throughput with it / without it (--quiet), >= 0.95 wanted",
        rows,
        figures,
        say,
    )


def report_shortcuts(figures: Figures, say: Say) -> None:
    rows = [
        ("quick requests on the loop / always on the pool", s, SC_AUTO, SC_POOL)
        for s in ("create", "get", "list100")
    ]
    rows += [
        ("bare Flask: on the loop / on the pool", s, SC_BARE_LOOP, SC_BARE_POOL)
        for s in ("create", "get")
    ]
    rows += [
        ("jsonschema_rs verdict / jsonschema alone", s, SC_AUTO, SC_REFERENCE)
        for s in ("create", "get", "list100")
    ]
    rows += [
        ("validation on / validation off", s, SC_AUTO, SC_NOVALIDATE)
        for s in ("create", "get", "list100")
    ]
    rows += [
        (f"validated / bare Flask ({how})", s, a, b)
        for s in ("create", "get")
        for how, a, b in (
            ("served", SC_AUTO, SC_BARE_LOOP),
            ("both on the pool", SC_POOL, SC_BARE_POOL),
        )
    ]
    report_pairs(
        "shortcuts: throughput with / without (a figure >= 1.10 keeps it)", rows, figures, say
    )


# -- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", action="append", choices=SUITES, help="default: every suite")
    parser.add_argument(
        "--before",
        type=Path,
        help="the checkout of the commit to compare with (a git worktree with its own venv/)",
    )
    parser.add_argument("--quick", action="store_true", help="3 s per figure, 2 rounds")
    parser.add_argument("--duration", type=float, help="seconds per figure (default 8, quick 3)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up (default 2, quick 1)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 6, quick 2)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--starts", type=int, default=30, help="server starts per fixture figure")
    parser.add_argument(
        "--side-runs",
        type=int,
        default=3,
        help="alternated runs of memory.py and bench_fixtures.py per checkout",
    )
    parser.add_argument("--no-prism", dest="prism", action="store_false")
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 6)
    if args.quick:
        args.side_runs, args.starts = 1, 10
    suites = args.suite or list(SUITES)
    use_wrk = shutil.which("wrk") is not None and not args.python_load

    def say(line: str) -> None:
        print(line, flush=True)

    began = time.monotonic()
    figures = Figures()
    with tempfile.TemporaryDirectory(prefix="mockgraph-bench-") as tmp:
        workdir = Path(tmp)
        body_file = workdir / "create.json"
        body_file.write_text(create_template())
        load = Load(
            duration=args.duration or (3.0 if args.quick else 8.0),
            warmup=args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0),
            connections=args.connections,
            workdir=workdir,
            body_file=body_file,
            use_wrk=use_wrk,
        )
        generator = "wrk -t1" if use_wrk else "the Python load generator (not wrk)"
        say(
            f"mockgraph benchmarks: {generator}, {args.connections} connections, "
            f"{load.duration:g} s per figure after {load.warmup:g} s warm-up, {args.rounds} "
            f"rounds, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
        )
        say(f"create body: {len(create_template())} bytes, one RSA-2048 key (public members)")
        runners = {"targets": suite_targets, "log": suite_log, "shortcuts": suite_shortcuts}
        for suite in suites:
            state = tree_state(ROOT)
            say(f"\n== {suite} (this checkout: {state})")
            suite_began = time.monotonic()
            runners[suite](args, load, figures, say)
            figures.facts[f"seconds: {suite}"] = round(time.monotonic() - suite_began)
            if tree_state(ROOT) != state:
                say(f"  NOTE: mockgraph/ changed during the suite (now {tree_state(ROOT)})")
            figures.facts[f"checkout: {suite}"] = [state, tree_state(ROOT)]

    if "targets" in suites:
        report_targets(figures, say)
    if "log" in suites:
        report_log(figures, say)
    if "shortcuts" in suites:
        report_shortcuts(figures, say)
    bad = {name: status for name, status in EXITS.items() if status != 0}
    if bad:
        say(f"\ntargets that did not stop with status 0: {bad}")
    figures.facts["exits"] = EXITS
    figures.facts["seconds"] = round(time.monotonic() - began)
    say(f"\nrun time: {figures.facts['seconds'] / 60:.1f} min")
    if args.json:
        args.json.write_text(json.dumps(figures.to_json(), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
