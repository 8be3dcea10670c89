"""Notification delivery latency, and whether a dead webhook slows executions.

One process, embedded PostgreSQL in a fresh folder, the notifier inside (the default without
AMQP_URL), outbound HTTP allowed to 127.0.0.1, mail through a local aiosmtpd server.

1. **Latency**: a user whose ``run_completed`` goes by email and by signed webhook (a local receiver
   answering 200). ``--latency-runs`` runs of a two-node agent, one after another; for each
   delivery, the time from the run's end (as stored) to its arrival at the SMTP server and at the
   webhook receiver. Figures: p50/p99 in milliseconds per channel.
2. **Throughput**: ``--runs`` runs of the same agent, ``--concurrency`` at a time, in alternating
   rounds: the user's ``run_completed`` goes nowhere, or to a webhook receiver that accepts the
   connection and never answers (each delivery waits for its timeout and retries). Figures: runs
   per second of each, and the change. Target: no drop beyond noise.

``--layout distributed``: the runs go through RabbitMQ (a fresh vhost) to this process as the
executor, and a ``workbench notifier`` process of its own handles the events and sends.

Usage: python tests/benchmarks/bench_notify.py [--latency-runs 100] [--runs 300] [--rounds 4]
       [--layout one-process|distributed]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx
from aiosmtpd.controller import Controller

from tests.notify.peers import MailHandler, free_port, receiving
from workbench.app import Workbench
from workbench.config import Settings
from workbench.graph.autogpt import parse_graph
from workbench.services.notifications.service import NotificationService

INPUT_BLOCK = "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b"
OUTPUT_BLOCK = "363ae599-353e-4804-937e-b2ee3cef3da4"


class TimedMail(MailHandler):
    """Keeps when each message arrived, by the run id in its subject line's body."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: dict[str, float] = {}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = time.time()
        text = (envelope.original_content or b"").decode(errors="replace")
        for line in text.splitlines():
            if line.startswith("Run: "):
                self.arrived[line[5:].strip()] = at
        return await super().handle_DATA(server, session, envelope)


class BlackHole:
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.accepted = 0
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self.held.append(conn)

    def close(self) -> None:
        self._stop.set()
        for conn in self.held:
            conn.close()
        self.sock.close()


def serve_receivers() -> None:
    """``--receivers``: in this (separate) process, a webhook receiver answering 200 and a black
    hole; prints their ports, then serves until stdin closes. Requests are counted at ``GET /count``."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    count = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            count[0] += 1
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def do_GET(self) -> None:
            body = str(count[0]).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hole = BlackHole()
    print(server.server_address[1], hole.port, flush=True)
    sys.stdin.read()


def quantile_ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


async def new_user(wb: Workbench) -> str:
    assert wb.db is not None
    return str(
        await wb.db.pool.fetchval(
            "INSERT INTO users (email) VALUES ($1) RETURNING id", f"bench-{time.time_ns()}@example.com"
        )
    )


async def agent(wb: Workbench, user: str) -> Any:
    doc = {
        "name": "Bench agent",
        "nodes": [
            {"id": "who", "block_id": INPUT_BLOCK, "input_default": {"name": "who"}},
            {"id": "out", "block_id": OUTPUT_BLOCK, "input_default": {"name": "out"}},
        ],
        "links": [{"source_id": "who", "source_name": "result", "sink_id": "out", "sink_name": "value"}],
    }
    return await wb.graphs.create(parse_graph(doc), user)


async def latency(wb: Workbench, mail: TimedMail, runs: int) -> dict[str, Any]:
    service = NotificationService.of(wb)
    user = await new_user(wb)
    graph = await agent(wb, user)
    hook_arrived: dict[str, float] = {}
    with receiving() as receiver:
        channel = await service.add_channel(user, "webhook", "bench", receiver.url)
        receiver.secret = channel.secret or ""
        await service.set_preferences(user, {"events": {"run_completed": ["email", "webhook"]}})
        ended: dict[str, float] = {}
        for n in range(runs):
            result = await wb.executions.run(graph, {"who": f"n{n}"}, user_id=user, timeout=30)
            assert result.status == "COMPLETED" and result.ended_at is not None
            ended[result.execution_id] = result.ended_at.timestamp()
            await asyncio.sleep(0.02)  # one at a time, as runs end in real use
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for request in receiver.requests:
                run_id = json.loads(request.body)["data"]["run_id"]
                hook_arrived.setdefault(run_id, request.at)
            if len(hook_arrived) >= runs and len(mail.arrived) >= runs:
                break
            await asyncio.sleep(0.05)
    mail_lat = [mail.arrived[r] - ended[r] for r in ended if r in mail.arrived]
    hook_lat = [hook_arrived[r] - ended[r] for r in ended if r in hook_arrived]
    return {
        "runs": runs,
        "email": {
            "delivered": len(mail_lat),
            "p50_ms": quantile_ms(mail_lat, 0.5),
            "p99_ms": quantile_ms(mail_lat, 0.99),
        },
        "webhook": {
            "delivered": len(hook_lat),
            "p50_ms": quantile_ms(hook_lat, 0.5),
            "p99_ms": quantile_ms(hook_lat, 0.99),
        },
    }


async def throughput(wb: Workbench, runs: int, concurrency: int, rounds: int) -> dict[str, Any]:
    service = NotificationService.of(wb)
    users = {name: await new_user(wb) for name in ("none", "live_webhook", "dead_webhook")}
    graphs = {name: await agent(wb, user) for name, user in users.items()}
    receivers = subprocess.Popen(
        [sys.executable, __file__, "--receivers"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert receivers.stdout is not None and receivers.stdin is not None
    live_port, dead_port = (int(x) for x in receivers.stdout.readline().split())
    try:
        await service.add_channel(
            users["live_webhook"], "webhook", "live", f"http://127.0.0.1:{live_port}/hook"
        )
        await service.add_channel(
            users["dead_webhook"], "webhook", "dead", f"http://127.0.0.1:{dead_port}/hook"
        )
        for name in ("live_webhook", "dead_webhook"):
            await service.set_preferences(users[name], {"events": {"run_completed": ["webhook"]}})

        async def batch(name: str) -> float:
            gate = asyncio.Semaphore(concurrency)

            async def one(n: int) -> None:
                async with gate:
                    result = await wb.executions.run(
                        graphs[name], {"who": f"n{n}"}, user_id=users[name], timeout=60
                    )
                    assert result.status == "COMPLETED"

            started = time.perf_counter()
            await asyncio.gather(*(one(n) for n in range(runs)))
            return runs / (time.perf_counter() - started)

        figures: dict[str, list[float]] = {name: [] for name in users}
        await batch("none")  # warm-up
        for _ in range(rounds):
            for name in users:
                figures[name].append(await batch(name))
                await asyncio.sleep(1.0)  # what the round left to send is sent before the next
        in_flight = len(await service.deliveries(users["dead_webhook"], status="sending", limit=200))
        async with httpx.AsyncClient() as client:
            delivered = int((await client.get(f"http://127.0.0.1:{live_port}/count")).text)
    finally:
        receivers.stdin.close()
        receivers.wait(timeout=10)
    medians = {name: statistics.median(values) for name, values in figures.items()}
    return {
        "runs_per_round": runs,
        "concurrency": concurrency,
        "rounds": rounds,
        "runs_per_s": {name: [round(x, 1) for x in values] for name, values in figures.items()},
        "median_runs_per_s": {name: round(value, 1) for name, value in medians.items()},
        "dead_vs_none_pct": round(100 * (medians["dead_webhook"] - medians["none"]) / medians["none"], 1),
        "dead_vs_live_pct": round(
            100 * (medians["dead_webhook"] - medians["live_webhook"]) / medians["live_webhook"], 1
        ),
        "live_webhook_deliveries": delivered,
        "dead_deliveries_in_flight_at_the_end": in_flight,
    }


def _vhost() -> tuple[str, str]:
    """A fresh RabbitMQ vhost on the machine's broker: (name, AMQP URL)."""
    name = f"wb-bench-{time.time_ns()}"
    subprocess.run(["rabbitmqctl", "add_vhost", name], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    return name, f"amqp://guest:guest@127.0.0.1:5672/{name}"


async def _notifier_process(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``workbench notifier`` on a free port, once its /health answers 200."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "launch.cli", "notifier", "--port", str(port)],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError(f"the notifier exited with {proc.returncode}")
            try:
                if (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the notifier did not start")


async def main(args: argparse.Namespace) -> dict[str, Any]:
    mail = TimedMail()
    smtp_port = free_port()
    controller = Controller(mail, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    vhost = None
    notifier = None
    try:
        with tempfile.TemporaryDirectory() as home:
            env = {
                "WORKBENCH_HOME": home,
                "WORKBENCH_HTTP_ALLOW": "127.0.0.1",
                "WORKBENCH_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}?starttls=off",
                "WORKBENCH_MAIL_FROM": "bench@example.com",
            }
            if args.layout == "distributed":  # executors here, the notifier in a process of its own
                vhost, env["AMQP_URL"] = _vhost()
            settings = Settings.from_env(env)
            async with Workbench(settings, consume=args.layout == "distributed") as wb:
                if args.layout == "distributed":
                    notifier = await _notifier_process(env)
                figures: dict[str, Any] = {"layout": args.layout}
                figures["latency"] = await latency(wb, mail, args.latency_runs)
                figures["throughput"] = await throughput(wb, args.runs, args.concurrency, args.rounds)
                return figures
    finally:
        if notifier is not None:
            notifier.terminate()
            notifier.wait(timeout=30)
        if vhost is not None:
            subprocess.run(["rabbitmqctl", "delete_vhost", vhost], check=False, capture_output=True)
        controller.stop()


if __name__ == "__main__":
    if "--receivers" in sys.argv:
        serve_receivers()
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-runs", type=int, default=100)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--layout",
        choices=("one-process", "distributed"),
        default="one-process",
        help="one-process: the notifier inside; distributed: RabbitMQ, a `workbench notifier` process",
    )
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
