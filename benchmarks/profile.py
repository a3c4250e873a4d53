"""Where a served mockgraph spends its time: py-spy samples the server's worker process while
wrk drives one scenario, then the top functions by own time and by inclusive time are printed.
By default only the thread holding the GIL is sampled (where the CPU goes); ``--all-threads``
samples every busy thread, which also shows the time threads wait to get the GIL back.

    python benchmarks/profile.py create            # or get, list10, list100, mix
    python benchmarks/profile.py list100 --seconds 15 -- --no-validate
    python benchmarks/profile.py get -- --log none # after --: options of targets.py

Needs py-spy (``pip install py-spy``) with the right to read the server's memory (root, or
ptrace allowed) and wrk.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.bodies import create_template  # noqa: E402
from benchmarks.run import SCENARIOS, Load, Result, after_spec, started  # noqa: E402

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?P<line>:\d+)?\)$")


def short(frame: str, lines: bool = False) -> str:
    """``render (/x/site-packages/flask/app.py:12)`` -> ``render (flask/app.py)``."""
    found = FRAME.match(frame)
    if not found:
        return frame
    path = found.group("file")
    for marker in ("site-packages/", "/lib/python3", "/work/main/", str(HERE.parent) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    line = (found.group("line") or "") if lines else ""
    return f"{found.group('func')} ({path}{line})"


def summarize(
    raw: str, top: int, lines: bool = False
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """py-spy's raw (collapsed) stacks -> (own-time shares, inclusive-time shares)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [short(f, lines) for f in stack.split(";")]
        # py-spy puts the thread name first when it knows it: not a function.
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return [], []
    return (
        [(name, n / total) for name, n in own.most_common(top)],
        [(name, n / total) for name, n in inclusive.most_common(top)],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=SCENARIOS)
    parser.add_argument("--app", default="mockgraph", choices=("mockgraph", "bare"))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--lines", action="store_true", help="one entry per line, not function")
    parser.add_argument(
        "--all-threads",
        action="store_true",
        help="sample every busy thread (wall time, GIL waits included) instead of only the "
        "one holding the GIL (where the CPU goes)",
    )
    argv = sys.argv[1:] if argv is None else argv
    options = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: len(argv) - len(options) - (1 if "--" in argv else 0)])
    args.options = options
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None or shutil.which("wrk") is None:
        print("needs py-spy (pip install py-spy) and wrk (apt-get install wrk)", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="mockgraph-profile-") as tmp:
        workdir = Path(tmp)
        body = workdir / "create.json"
        body.write_text(create_template())
        load = Load(
            duration=args.seconds + 2,
            warmup=2,
            connections=8,
            workdir=workdir,
            body_file=body,
            use_wrk=True,
        )
        spec = after_spec("profiled", args.app, workdir, *args.options)
        with started(spec) as live:
            out = workdir / "stacks.txt"
            load.measure(live, args.scenario)  # warm up: imports, caches, first compiles
            measured: list[Result] = []
            driver = threading.Thread(
                target=lambda: measured.append(load.measure(live, args.scenario))
            )
            driver.start()
            subprocess.run(
                [
                    spy,
                    "record",
                    "--pid",
                    str(live.process.pid),
                    "--subprocesses",  # the granian worker, where the app runs
                    "--duration",
                    str(args.seconds),
                    "--rate",
                    str(args.rate),
                    "--format",
                    "raw",
                    "--output",
                    str(out),
                    "--nonblocking",
                    *([] if args.all_threads else ["--gil"]),
                ],
                check=True,
                capture_output=True,
            )
            driver.join()
            raw = out.read_text()

    own, inclusive = summarize(raw, args.top, args.lines)
    what = "busy samples, every thread" if args.all_threads else "samples holding the GIL"
    served = " ".join([args.app, *args.options])
    print(f"{served} on the production server, {args.scenario}: share of {what}")
    if measured:
        print(f"(while sampled: {measured[0].rps:,.0f} req/s, p99 {measured[0].p99_ms:.1f} ms)")
    print("\nown time (the function itself):")
    for name, share in own:
        print(f"  {share:6.1%}  {name}")
    print("\ninclusive time (the function and what it calls):")
    for name, share in inclusive:
        print(f"  {share:6.1%}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
