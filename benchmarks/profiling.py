"""Where resqplug's time goes, for the figures that miss their targets.

    python benchmarks/profiling.py enqueue            # 20,000 Resq.enqueue calls (pyinstrument)
    python benchmarks/profiling.py enqueue_many       # 20,000 jobs in enqueue_many calls
    python benchmarks/profiling.py drain no-fork      # a worker draining (py-spy, with children)
    python benchmarks/profiling.py drain "fork per job" 2000

Runs in benchmarks/.venv-peers on a private redis-server; full reports go to
benchmarks/profiles/, a summary (top functions by own and total time) to stdout.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE / "peers")]

import peers_venv  # noqa: E402

if __name__ == "__main__" and not peers_venv.inside():
    peers_venv.reexec(__file__)  # does not return

import common  # noqa: E402

OUT = HERE / "profiles"


def rate(call: Callable[[], object], n: int = 20000) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        call()
    return n / (time.perf_counter() - t0)


def enqueue_parts(url: str) -> None:
    """Where one enqueue's time goes: a bare LPUSH, the same write through
    resqplug's enqueue script (EVALSHA, by hand and through redis-py's Script),
    and the whole Resq.enqueue; medians of 3 interleaved runs."""
    import bench_jobs
    import redis
    import resqplug_bench as rb

    from resqplug import scripts

    r, c = redis.Redis.from_url(url), rb.client(url)
    script = r.register_script(scripts.source("enqueue"))
    keys = [c.keys.queues, c.keys.queue("bench"), c.keys.wake("bench")]
    argv = ["bench", '{"class":"BenchNoop","args":[1],"id":"0123456789abcdef"}', 64]
    script(keys, argv)
    calls = {
        "LPUSH": lambda: r.lpush("ceiling", argv[1]),
        "EVALSHA enqueue.lua": lambda: r.evalsha(script.sha, 3, *keys, *argv),
        "Script(enqueue.lua)": lambda: script(keys, argv),
        "Resq.enqueue": lambda: c.enqueue(bench_jobs.BenchNoop, 1),
    }
    rates: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(3):
        for name, call in calls.items():
            rates[name].append(rate(call))
    for name, values in rates.items():
        per_op = 1e6 / common.median(values)
        print(f"  {name:22} {common.median(values):9,.0f}/s  {per_op:6.1f} us per call")
    print()


def profile_enqueue(url: str, bulk: bool) -> None:
    import resqplug_bench as rb
    from pyinstrument import Profiler

    if not bulk:
        enqueue_parts(url)
    rb.enqueue_one_by_one(url, 2000)  # warm up: connection, script load
    profiler = Profiler(interval=0.0001)
    profiler.start()
    rate = (rb.enqueue_bulk if bulk else rb.enqueue_one_by_one)(url, 20000)
    profiler.stop()
    name = "enqueue_many" if bulk else "enqueue"
    (OUT / f"{name}.txt").write_text(profiler.output_text(unicode=False))
    print(f"{name}: {rate:,.0f} jobs/s under the profiler; tree in profiles/{name}.txt\n")
    print(profiler.output_text(unicode=False, show_all=False))


def profile_drain(url: str, model: str, n: int) -> None:
    import resqplug_bench as rb

    rb.prefill(url, n)
    raw = OUT / f"drain-{model.replace(' ', '_').replace(',', '')}.txt"
    spy = [str(Path(sys.executable).parent / "py-spy"), "record", "--native"]
    worker = [*rb.worker_cmd(model), "--burst"]
    cmd = [*spy, "-r", "500", "--format", "raw", "-o", str(raw), "--", *worker]
    env = common.env_with(**rb.WORKER_ENV)  # core only, as in the benchmark's resqplug rows
    subprocess.run(cmd, env=env, cwd=HERE, check=True, capture_output=True)
    print(f"drain, {model}, {n:,} jobs: collapsed stacks in {raw.relative_to(HERE)}\n")
    summarize(raw)


def summarize(raw: Path, top: int = 25) -> None:
    """Own and total share of samples per function, from py-spy's collapsed
    stacks, counting only samples taken inside Worker.work (not start-up)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "Worker.work (" not in stack:
            continue
        frames = [re.sub(r"\(.*/", "(", frame) for frame in stack.split(";")]
        own[frames[-1]] += int(count)
        for frame in set(frames):
            total[frame] += int(count)
    samples = sum(own.values())
    for title, counter in (("own time", own), ("total time (with callees)", total)):
        print(f"top {top} by {title}, of {samples} samples in Worker.work:")
        for frame, count in counter.most_common(top):
            print(f"  {100 * count / samples:5.1f}%  {frame}")
        print()


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what not in ("enqueue", "enqueue_many", "drain"):
        sys.exit(__doc__)
    OUT.mkdir(exist_ok=True)
    try:
        with common.private_redis() as url:
            os.environ["BENCH_REDIS_URL"] = url
            if what == "drain":
                model = sys.argv[2] if len(sys.argv) > 2 else "no-fork"
                n = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
                profile_drain(url, model, n)
            else:
                profile_enqueue(url, what == "enqueue_many")
    finally:
        common.stop_all()


if __name__ == "__main__":
    main()
