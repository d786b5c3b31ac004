"""Load test for ``ghostscore serve``: throughput, latency percentiles, status counts, server RSS.

    python benchmarks/loadtest.py --start-server --no-lm --clients 50 --duration 20
    python benchmarks/loadtest.py --url http://127.0.0.1:8000 --pid 12345 --clients 50 --duration 60
    python benchmarks/loadtest.py --start-server --stub --duration 20      # a trivial test model

Bounded on purpose: loopback URLs only, a fixed time (``--duration``) and request budget
(``--max-requests``). ``--start-server`` runs ``ghostscore serve`` on a free port, waits for
``/readyz``, samples its RSS from ``/proc/<pid>/status`` once a second and stops it at the end.
``--stub`` serves a model with no extractor features (constant score): it measures the service,
document parsing and HTTP overhead, not the extractors. Prints a summary and one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from faulttest import synthetic_article  # a sibling script: python puts benchmarks/ on sys.path

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[k]


def make_stub_model(directory: Path) -> Path:
    import numpy as np

    from ghostscore.classifiers.calibration import OperatingPoint
    from ghostscore.classifiers.linear import LinearModel

    model = LinearModel([], [], np.zeros(0), np.ones(0), np.zeros(0), 0.0, name="loadtest-stub",
                        operating_point=OperatingPoint.from_scores(np.linspace(0.1, 0.9, 100)))
    return model.save(directory / "stub-model")


class Server:
    """``ghostscore serve`` in a subprocess (its own process group), stopped on exit."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "ghostscore.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if args.stub:
            cmd += ["--model", str(make_stub_model(workdir))]
        elif args.model:
            cmd += ["--model", args.model]
        if args.no_lm:
            cmd.append("--no-lm")
        self.log_path = workdir / "server.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.proc.pid

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False, timeout=2) as c:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log_path}")
                try:
                    r = c.get(self.url + "/readyz")
                    if r.status_code == 200:
                        return
                    if r.json().get("status") == "failed":
                        raise RuntimeError(f"model failed to load: {r.json().get('error')}")
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        raise RuntimeError(f"server not ready after {timeout:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


async def run_load(url: str, args: argparse.Namespace, pid: int | None) -> dict[str, Any]:
    rng = random.Random(args.seed)
    pool = [synthetic_article(rng) for _ in range(200)]
    latencies: list[float] = []
    ok_latencies: list[float] = []
    busy_latencies: list[float] = []  # 503s: how fast the service says no
    statuses: Counter = Counter()
    rss: list[tuple[float, float]] = []
    sent = 0
    started = time.monotonic()
    stop_at = started + args.duration
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}

    async def client(k: int, http: httpx.AsyncClient) -> None:
        nonlocal sent
        local = random.Random(args.seed + k)
        while time.monotonic() < stop_at and sent < args.max_requests:
            sent += 1
            texts = [local.choice(pool) for _ in range(args.texts_per_request)]
            body: dict[str, Any] = {"text": texts[0]} if args.texts_per_request == 1 else {"texts": texts}
            if args.explain != "default":
                body["explain"] = args.explain == "on"
            t0 = time.perf_counter()
            dt_busy = 0.0
            try:
                r = await http.post(url + "/v1/score", json=body, headers=headers)
                key: Any = r.status_code
                if r.status_code == 503:
                    dt_busy = time.perf_counter() - t0
                    await asyncio.sleep(min(1.0, float(r.headers.get("retry-after", "1"))))
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            dt = dt_busy if key == 503 else time.perf_counter() - t0
            statuses[key] += 1
            latencies.append(dt)
            if key == 200:
                ok_latencies.append(dt)
            elif key == 503:
                busy_latencies.append(dt)

    async def sampler() -> None:
        while time.monotonic() < stop_at and sent < args.max_requests:
            if pid is not None:
                value = rss_mb(pid)
                if value is not None:
                    rss.append((round(time.monotonic() - started, 1), round(value, 1)))
            await asyncio.sleep(1.0)

    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    async with httpx.AsyncClient(timeout=args.request_timeout, limits=limits, trust_env=False) as http:
        await asyncio.gather(sampler(), *(client(k, http) for k in range(args.clients)))
    elapsed = time.monotonic() - started
    ok = statuses.get(200, 0)
    ms = lambda v: None if v is None else round(v * 1000, 1)  # noqa: E731
    return {
        "url": url, "clients": args.clients, "seconds": round(elapsed, 1), "requests": sum(statuses.values()),
        "texts_per_request": args.texts_per_request,
        "ok_per_s": round(ok / elapsed, 2), "texts_per_s": round(ok * args.texts_per_request / elapsed, 2),
        "status": {str(k): v for k, v in statuses.most_common()},
        "latency_ms_ok": {"p50": ms(percentile(ok_latencies, 50)), "p95": ms(percentile(ok_latencies, 95)),
                          "p99": ms(percentile(ok_latencies, 99))},
        "latency_ms_503": {"p50": ms(percentile(busy_latencies, 50)), "p99": ms(percentile(busy_latencies, 99))},
        "explain": args.explain,
        "latency_ms_all": {"p50": ms(percentile(latencies, 50)), "p95": ms(percentile(latencies, 95)),
                           "p99": ms(percentile(latencies, 99))},
        "rss_mb": {"start": rss[0][1] if rss else None, "max": max((v for _, v in rss), default=None),
                   "end": rss[-1][1] if rss else None, "series": rss},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="A running service (loopback only).")
    ap.add_argument("--pid", type=int, help="Its process id, to sample RSS.")
    ap.add_argument("--start-server", action="store_true", help="Start `ghostscore serve` on a free port.")
    ap.add_argument("--no-lm", action="store_true", help="With --start-server: the features-only model.")
    ap.add_argument("--model", help="With --start-server: model name or directory.")
    ap.add_argument("--stub", action="store_true", help="With --start-server: a featureless test model.")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--duration", type=float, default=60.0, help="Seconds of load (at most 600).")
    ap.add_argument("--max-requests", type=int, default=100_000)
    ap.add_argument("--texts-per-request", type=int, default=1)
    ap.add_argument("--explain", choices=("default", "on", "off"), default="default",
                    help="Send explain=true/false with each request (default: the service's default).")
    ap.add_argument("--request-timeout", type=float, default=120.0)
    ap.add_argument("--ready-timeout", type=float, default=300.0)
    ap.add_argument("--api-key", default=os.environ.get("GHOSTSCORE_API_KEY"))
    ap.add_argument("--out", type=Path, help="Also write the JSON report here.")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not args.url and not args.start_server:
        ap.error("give --url or --start-server")
    if args.duration > 600 or args.clients > 500:
        ap.error("bounded on purpose: --duration <= 600 and --clients <= 500")

    server = None
    workdir = Path(tempfile.mkdtemp(prefix="ghostscore-loadtest-"))
    try:
        if args.start_server:
            server = Server(args, workdir)
            t0 = time.monotonic()
            server.wait_ready(args.ready_timeout)
            url, pid = server.url, server.pid
            print(f"server pid {pid} ready on {url} after {time.monotonic() - t0:.1f} s", file=sys.stderr)
        else:
            url, pid = args.url.rstrip("/"), args.pid
            host = urlparse(url).hostname or ""
            if host not in LOOPBACK:
                ap.error(f"refusing to load-test {host!r}: loopback addresses only")
        report = asyncio.run(run_load(url, args, pid))
    finally:
        if server is not None:
            server.stop()
            report_log = server.log_path
            print(f"server log (JSON lines): {report_log}", file=sys.stderr)
    lat = report["latency_ms_ok"]
    print(f"{report['requests']} requests in {report['seconds']} s from {args.clients} clients: "
          f"{report['ok_per_s']} ok/s ({report['texts_per_s']} texts/s); latency p50 {lat['p50']} ms, "
          f"p95 {lat['p95']} ms, p99 {lat['p99']} ms; status {report['status']}; RSS MB start "
          f"{report['rss_mb']['start']} max {report['rss_mb']['max']} end {report['rss_mb']['end']}",
          file=sys.stderr)
    line = json.dumps(report)
    print(line)
    if args.out:
        args.out.write_text(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
