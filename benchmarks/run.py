"""Issue 6's figures in one run, with the ratios against its targets.

    python benchmarks/run.py            # 10 s per figure after a 2 s warm-up (about 15 minutes)
    python benchmarks/run.py --quick    # 3 s per figure after 1 s, no server comparison (~6 min)

Requests/s, p50 and p99 of create, get, list (a page of 10 and of 100) and a mix, for
mockgraph as served (``mockgraph serve``'s server, full validation), the same app with
validation off, and a bare Flask handler with a dict store on the same server; Prism 5
(``npx @stoplight/prism-cli@5 mock``, static examples) on mockgraph's own OpenAPI document; a
page of 100 from 100,000 stored; the memory of 100,000 stored key sets; and (unless --quick)
the candidate servers side by side. Every target runs in its own process; all run side by
side and are measured in interleaved rounds (``--rounds``, default 3), each figure the median
of its rounds, so that load drifting on a shared machine does not decide a ratio.

Load: wrk with 1 thread and 8 connections, as PERFORMANCE.md's figures (``apt-get install
wrk``); without wrk, a Python load generator whose figures compare only with each other.
Absolute figures move by up to 25% between runs on a shared machine: compare ratios taken in
the same run.
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
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
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


@dataclass
class Result:
    target: str
    scenario: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    note: str = ""
    #: Requests/s of each interleaved round, in round order (the figure is their median).
    rounds: list[float] = field(default_factory=list)


@dataclass
class Run:
    results: list[Result] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def rps(self, target: str, scenario: str) -> float | None:
        """Requests/s of a figure; None when missing or when any answer was an error (an
        error answer is no measure of the work a right one costs)."""
        for result in self.results:
            if result.target == target and result.scenario == scenario:
                return None if result.errors else result.rps
        return None

    def ratio(self, a: tuple[str, str], b: tuple[str, str]) -> float | None:
        """The median over rounds of figure ``a`` / figure ``b`` taken in the same round (the
        two measured seconds apart), or of the medians where rounds were not kept."""
        first, second = self._result(*a), self._result(*b)
        if first is None or second is None or first.errors or second.errors:
            return None
        pairs = [x / y for x, y in zip(first.rounds, second.rounds, strict=False) if y]
        if pairs:
            return statistics.median(pairs)
        return first.rps / second.rps if second.rps else None

    def _result(self, target: str, scenario: str) -> Result | None:
        for result in self.results:
            if result.target == target and result.scenario == scenario:
                return result
        return None


# -- targets -----------------------------------------------------------------------------------


@dataclass
class Live:
    """A started target: its base URL (``http://host:port``), path prefix and process."""

    name: str
    origin: str
    prefix: str
    process: subprocess.Popen[str]
    log: list[str]

    @property
    def collection(self) -> str:
        return self.prefix + COLLECTION


def _drain(stream: Any, into: list[str]) -> None:
    for line in stream:
        into.append(line.rstrip())
        del into[:-50]


def _wait_ready(url: str, process: subprocess.Popen[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"target exited with {process.returncode} before it was ready")
        try:
            request = urllib.request.Request(url, headers={"Authorization": TOKEN})
            with urllib.request.urlopen(request, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} not ready after {timeout} s")


@contextmanager
def target(app: str, server: str, *, threads: int, seed: int = SEEDED) -> Iterator[Live]:
    """``benchmarks/targets.py APP SERVER`` in its own process; stopped with SIGTERM."""
    command = [
        sys.executable,
        str(HERE / "targets.py"),
        app,
        server,
        "--port",
        "0",
        "--threads",
        str(threads),
        "--seed",
        str(seed),
    ]
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    assert process.stderr is not None
    log: list[str] = []
    origin = None
    for line in process.stderr:
        log.append(line.rstrip())
        found = URL_LINE.search(line)
        if found:
            origin = found.group(1)
            break
    if origin is None:
        process.wait()
        raise RuntimeError(f"{app} on {server} did not start:\n" + "\n".join(log[-20:]))
    threading.Thread(target=_drain, args=(process.stderr, log), daemon=True).start()
    live = Live(f"{app}@{server}", origin, "/beta", process, log)
    try:
        _wait_ready(origin + live.collection + "?$top=1", process)
        yield live
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()  # SIGTERM: the graceful stop of mockgraph.serving
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def prism(document: Path) -> Iterator[Live]:
    """Prism 5 mocking ``document`` with static examples (its default)."""
    npx = shutil.which("npx")
    if npx is None:
        raise RuntimeError("npx is not installed (Node.js)")
    with socket_port() as port:
        pass
    command = [npx, "-y", "@stoplight/prism-cli@5", "mock", "-h", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(
        [*command, str(document)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    log: list[str] = []
    try:
        for line in process.stdout:
            log.append(line.rstrip())
            if "Prism is listening" in line:
                break
        else:
            raise RuntimeError("Prism did not start:\n" + "\n".join(log[-20:]))
        threading.Thread(target=_drain, args=(process.stdout, log), daemon=True).start()
        # Prism matches paths without the servers' base path (/beta).
        yield Live("prism-static", f"http://127.0.0.1:{port}", "", process, log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # npx and the node process it started
            process.wait(timeout=30)


@contextmanager
def socket_port() -> Iterator[int]:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        yield probe.getsockname()[1]


# -- load --------------------------------------------------------------------------------------


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


# -- the run -----------------------------------------------------------------------------------


def served_server() -> str:
    """The server ``mockgraph serve`` picks on this machine."""
    from mockgraph.serve.production import choose_server

    return choose_server("auto")


def rss_of(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


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


def measure_all(args: argparse.Namespace, load: Load, say: Any) -> Run:
    """Every figure, in interleaved rounds: all targets run side by side (an idle one costs no
    CPU) and each round measures every figure once, scenario by scenario, so the figures a
    ratio compares are taken seconds apart. A figure is the median of its rounds: on a shared
    machine the load drifts over minutes, and a run measured target after target once let
    that drift decide a ratio."""
    run = Run()
    server = args.server or served_server()
    run.facts["server"] = server
    run.facts["threads"] = args.threads
    run.facts["rounds"] = args.rounds
    with ExitStack() as started:
        lives = {
            app: started.enter_context(target(app, server, threads=args.threads))
            for app in ("mockgraph", "novalidate", "bare")
        }
        big = started.enter_context(target("mockgraph", server, threads=args.threads, seed=BIG))
        big.name = f"mockgraph@{server}[{BIG} stored]"
        rival: Live | None = None
        if args.prism:
            try:
                openapi = fetch_openapi(lives["mockgraph"], load.workdir / "openapi.json")
                rival = started.enter_context(prism(openapi))
            except (OSError, RuntimeError) as exc:
                say(f"  (Prism not measured: {exc})")
        plan: list[tuple[Live, str]] = []
        for scenario in SCENARIOS:
            plan += [(live, scenario) for live in lives.values()]
            if scenario in ("list100", "get"):
                plan.append((big, scenario))
            if rival is not None and scenario in ("create", "get", "list10"):
                plan.append((rival, scenario))
        samples: dict[tuple[str, str], list[Result]] = {}
        for round_ in range(1, args.rounds + 1):
            say(f"  round {round_} of {args.rounds}")
            for live, scenario in plan:
                result = load.measure(live, scenario)
                samples.setdefault((live.name, scenario), []).append(result)
        run.facts["served_rss_mb_100k"] = rss_of(big.process.pid)
        for results in samples.values():
            ordered = sorted(results, key=lambda r: r.rps)
            median = ordered[len(ordered) // 2]
            median.errors = sum(r.errors for r in results)
            median.note = "rounds: " + ", ".join(f"{r.rps:,.0f}" for r in results)
            median.rounds = [r.rps for r in results]
            run.results.append(median)
            say(format_result(median))
    for live in lives.values():
        run.facts[f"rc:{live.name}"] = live.process.returncode

    if args.compare_servers:
        for other in ("granian", "waitress", "gunicorn"):
            if other == server or (other == "gunicorn" and sys.platform == "win32"):
                continue
            for app in ("mockgraph", "bare"):
                try:
                    with target(app, other, threads=args.threads) as live:
                        for scenario in ("create", "get"):
                            result = load.measure(live, scenario)
                            run.results.append(result)
                            say(format_result(result))
                except RuntimeError as exc:
                    say(f"  ({app} on {other} not measured: {exc})")

    if args.memory:
        for private in (False,) if args.quick else (False, True):
            command = [sys.executable, str(HERE / "memory.py"), "--count", str(BIG)]
            done = subprocess.run(
                command + (["--private"] if private else []),
                capture_output=True,
                text=True,
                check=False,
            )
            lines = done.stdout.strip().splitlines()
            if done.returncode == 0 and lines:
                figures = json.loads(lines[-1])
                run.facts["memory_private" if private else "memory_public"] = figures
                say(f"  memory: {json.dumps(figures)}")
            else:
                say(f"  memory not measured: {done.stderr.strip()[-500:]}")
    return run


def format_result(result: Result) -> str:
    errors = f"  {result.errors} errors" if result.errors else ""
    return (
        f"  {result.target:<44} {result.scenario:<8} {result.rps:>9,.0f} req/s"
        f"  p50 {result.p50_ms:>7.2f} ms  p99 {result.p99_ms:>7.2f} ms{errors}"
        + (f"  ({result.note})" if result.note else "")
    )


def ratios(run: Run) -> list[tuple[str, float | None, str, bool | None]]:
    """(what, ratio, target, met) for issue 6's targets, then informative ratios; each the
    median of the ratios of the rounds (:meth:`Run.ratio`)."""
    server = run.facts["server"]
    mg, bare, off = f"mockgraph@{server}", f"bare@{server}", f"novalidate@{server}"
    big = f"mockgraph@{server}[{BIG} stored]"

    rows: list[tuple[str, float | None, str, bool | None]] = []

    def add(what: str, value: float | None, goal: str, ok: Any = None) -> None:
        met = None if value is None or ok is None else bool(ok(value))
        rows.append((what, value, goal, met))

    add(
        "validated create / Prism static create",
        run.ratio((mg, "create"), ("prism-static", "create")),
        ">= 2",
        lambda v: v >= 2,
    )
    add(
        "validated create / bare Flask create (same server)",
        run.ratio((mg, "create"), (bare, "create")),
        ">= 0.7",
        lambda v: v >= 0.7,
    )
    add(
        "validated get / bare Flask get (same server)",
        run.ratio((mg, "get"), (bare, "get")),
        ">= 0.8",
        lambda v: v >= 0.8,
    )
    add(
        f"page of 100: time with {BIG:,} stored / with {SEEDED} stored",
        run.ratio((mg, "list100"), (big, "list100")),
        "<= 1.5",
        lambda v: v <= 1.5,
    )
    memory = run.facts.get("memory_public")
    if memory and memory.get("rss_after_mb") is not None:
        add(
            f"RSS with {BIG:,} key sets, one RSA key each (MB)",
            memory["rss_after_mb"],
            "<= 200",
            lambda v: v <= 200,
        )
    for scenario in ("list10", "list100", "mix"):
        add(
            f"validated {scenario} / bare Flask {scenario}",
            run.ratio((mg, scenario), (bare, scenario)),
            "",
        )
    for scenario in SCENARIOS:
        add(
            f"validated {scenario} / validation off {scenario}",
            run.ratio((mg, scenario), (off, scenario)),
            "",
        )
    add(
        "validated get / Prism static get",
        run.ratio((mg, "get"), ("prism-static", "get")),
        "",
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per figure, no server comparison")
    parser.add_argument("--duration", type=float, help="seconds per figure (default 10, quick 3)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up (default 2, quick 1)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; a figure is their median"
    )
    parser.add_argument(
        "--threads", type=int, default=8, help="server threads (as serve's default)"
    )
    parser.add_argument("--server", help="server of every target (default: what serve picks)")
    parser.add_argument("--no-prism", dest="prism", action="store_false")
    parser.add_argument("--no-memory", dest="memory", action="store_false")
    parser.add_argument(
        "--compare-servers",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run mockgraph and bare Flask on each candidate server (default: not --quick)",
    )
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args(argv)
    if args.compare_servers is None:
        args.compare_servers = not args.quick
    use_wrk = shutil.which("wrk") is not None and not args.python_load

    def say(line: str) -> None:
        print(line, flush=True)

    with tempfile.TemporaryDirectory(prefix="mockgraph-bench-") as tmp:
        workdir = Path(tmp)
        body_file = workdir / "create.json"
        body_file.write_text(create_template())
        load = Load(
            duration=args.duration or (3.0 if args.quick else 10.0),
            warmup=args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0),
            connections=args.connections,
            workdir=workdir,
            body_file=body_file,
            use_wrk=use_wrk,
        )
        generator = "wrk -t1" if use_wrk else "the Python load generator (not wrk)"
        say(
            f"mockgraph benchmarks: {generator}, {args.connections} connections, "
            f"{load.duration:g} s per figure after {load.warmup:g} s warm-up, "
            f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
        )
        say(f"create body: {len(create_template())} bytes, one RSA-2048 key (public members)")
        run = measure_all(args, load, say)

    say("")
    say(
        f"server: {run.facts['server']} ({run.facts['threads']} threads); "
        "ratios in this run (each the median of the rounds' ratios):"
    )
    for what, value, goal, met in ratios(run):
        shown = "n/a" if value is None else f"{value:.2f}"
        verdict = "" if met is None else ("  met" if met else "  NOT MET")
        goal_text = f" (target {goal})" if goal else ""
        say(f"  {what:<58} {shown:>7}{goal_text}{verdict}")
    rss = run.facts.get("served_rss_mb_100k")
    if rss is not None:
        say(f"  served process RSS with {BIG:,} key sets stored, after load: {rss:.0f} MB")
    private = run.facts.get("memory_private")
    if private:
        say(
            f"  RSS with {BIG:,} key sets holding every private RSA member: "
            f"{private['rss_after_mb']} MB"
        )
    bad_rc = {k: v for k, v in run.facts.items() if k.startswith("rc:") and v != 0}
    if bad_rc:
        say(f"  targets that did not stop with 0: {bad_rc}")
    if args.json:
        args.json.write_text(
            json.dumps({"results": [r.__dict__ for r in run.results], "facts": run.facts}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
