"""Live figures of the web apps in Debian's Chromium against a real ``workbench serve``. Prints JSON.

A ``workbench serve --auth none`` process with the UI on (the local user); runs are started through
the API, the pages are real browser tabs driven by Playwright. The order: (a), (c), then (b).

(a) monitor latency: one Monitor tab is open; ``--runs`` runs of the example agent are started one
    after another through the API. A ``MutationObserver`` on the table (inside Bokeh's shadow roots)
    records ``Date.now()`` whenever a row changes; the latency of a run is from its last node
    finishing (that node execution's ``ended_at`` as stored) to the first time its row shows
    ``completed``. The run's own ``ended_at`` (stored just after) is reported beside it. Both clocks
    are this machine's wall clock. Target: p95 under 200 ms.
(b) API throughput with open Monitor pages: ``--clients`` closed-loop httpx clients hit the API for
    ``--seconds`` on two endpoints, ``POST /graphs/{id}/execute?wait=30`` (every request is a run the
    pages are told about) and ``GET /executions``, alternately with no page open and with
    ``--pages`` Monitor tabs open (each follows the user's events), ``--rounds`` times. Each phase
    with pages is set against the mean of the phases without pages on either side (the machine's
    other work drifts), and the median round is the figure. Each phase without pages starts once
    the server has ended the closed tabs' sessions (``SESSION_END_S``). Also reported: how many
    times each tab showed runs ending while the runs were being started, and its longest wait (the
    pages share a budget of the server's loop, :mod:`workbench.ui.budget`). Target: less than 10%
    fewer requests per second with the pages.
(c) chat token latency: the server's LLM is the local OpenAI-compatible test server behind a proxy
    that passes its SSE answer on one piece every ``TOKEN_GAP`` seconds and notes when each piece
    left; for each of ``--replies`` messages a new ``message -> LLM -> reply`` agent is opened in a
    Chat tab (an empty conversation) and sent a message; an observer notes the reply's text with
    ``Date.now()`` as it grows; each piece's latency is from leaving the proxy to the first text on
    the page that holds it. Target: p95 under 100 ms.

Usage: python tests/benchmarks/bench_ui_live.py [--runs 50] [--pages 20] [--seconds 15] [--clients 4]
                                                 [--replies 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.openai_server import serve
from tests.support.servers import start_server, stop_server

ROOT = Path(__file__).resolve().parents[2]
HELLO = json.loads((ROOT / "examples" / "hello_agent.json").read_text())
LATENCY_TARGET_MS = 200.0
SESSION_END_S = 15.0
"""Seconds after a tab closes by which the UI server has ended its session (an unused session lives
10 s, checked every 2 s: ``workbench/ui/server.py``)."""
DROP_TARGET_PCT = 10.0
PAGES_SETTLE_S = 8.0
"""Seconds after the last tab opened before measuring with pages: Chromium goes on parsing, compiling
and laying out twenty Bokeh pages for a few seconds after each shows its table."""

TOKEN_GAP = 0.1
"""Seconds between two streamed pieces of the LLM's answer (a model writing at a human pace)."""
CHAT_TARGET_MS = 100.0
CHAT_REPLY = (
    "{name}: once upon a time a quick brown fox ran through the quiet woods, found a river and slept."
)
"""The LLM's answer, different from its first word on for each message (the page may show earlier ones)."""

OBSERVE_REPLIES = """
() => {
  // The last reply's text as it grows: [Date.now(), text, how many replies the page shows], seen
  // through Bokeh's shadow roots by observers on every shadow root (and new ones as they appear).
  window.wbReplies = [];
  const observed = new WeakSet();
  const deep = (root, found) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.classList.contains('wb-reply')) found.push(el);
      if (el.shadowRoot) deep(el.shadowRoot, found);
    }
    return found;
  };
  const record = () => {
    const now = Date.now();
    const all = deep(document, []);
    if (!all.length) return;
    const last = all[all.length - 1];
    const parts = last.shadowRoot ? Array.from(last.shadowRoot.children) : [last];
    const text = parts.filter((c) => !['STYLE', 'LINK'].includes(c.tagName))
      .map((c) => c.innerText).join('').trim();
    const list = window.wbReplies;
    if (text && (!list.length || list[list.length - 1][1] !== text)) list.push([now, text, all.length]);
  };
  const attach = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (!el.shadowRoot) continue;
      if (!observed.has(el.shadowRoot)) {
        observed.add(el.shadowRoot);
        new MutationObserver(() => { attach(el.shadowRoot); record(); }).observe(
          el.shadowRoot, {childList: true, subtree: true, characterData: true});
        record();
      }
      attach(el.shadowRoot);
    }
  };
  new MutationObserver(() => { attach(document); record(); }).observe(
    document.body, {childList: true, subtree: true, characterData: true});
  attach(document);
  setInterval(() => attach(document), 100);
}
"""

OBSERVE_ROWS = """
() => {
  // Bokeh draws the table inside shadow roots, which a document-level observer does not see:
  // observe every shadow root holding the runs table, attaching to new ones as they appear.
  window.wbSeen = {};            // execution id -> {status: first Date.now() each status was shown}
  const observed = new WeakSet();
  const record = (root) => {
    const now = Date.now();
    for (const row of root.querySelectorAll('tr.wb-row[data-id]')) {
      const cell = row.querySelector('td[data-field="status"]');
      if (!cell) continue;
      const id = row.getAttribute('data-id');
      const status = cell.innerText.trim();
      const seen = (window.wbSeen[id] = window.wbSeen[id] || {});
      if (status && !(status in seen)) seen[status] = now;
    }
  };
  const attach = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (!el.shadowRoot) continue;
      if (!observed.has(el.shadowRoot) && el.shadowRoot.querySelector('.wb-table, .wb-empty')) {
        observed.add(el.shadowRoot);
        const shadow = el.shadowRoot;
        new MutationObserver(() => record(shadow)).observe(
          shadow, {childList: true, subtree: true, characterData: true});
        record(shadow);
      }
      attach(el.shadowRoot);
    }
  };
  attach(document);
  setInterval(() => attach(document), 250);
}
"""


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(values: list[float]) -> dict[str, float]:
    """p50, p95 and max, in ms, rounded."""
    return {
        "p50_ms": round(percentile(values, 50), 1),
        "p95_ms": round(percentile(values, 95), 1),
        "max_ms": round(max(values), 1),
    }


def epoch_ms(stamp: str) -> float:
    """An ISO timestamp from the API as milliseconds since the epoch."""
    return datetime.fromisoformat(stamp).timestamp() * 1000


async def new_tab(context: Any, url: str) -> Any:
    """A tab showing the Monitor with its table drawn."""
    tab = await context.new_page()
    await tab.goto(url)
    await tab.locator(".wb-table, p.wb-empty").first.wait_for(timeout=30_000)
    return tab


async def monitor_latency(
    api: httpx.AsyncClient, context: Any, ui_url: str, graph_id: str, runs: int
) -> dict[str, Any]:
    """(a): the Monitor's delay from a run's last node finishing to its row showing ``completed``."""
    tab = await new_tab(context, ui_url + "/monitor")
    await tab.evaluate(OBSERVE_ROWS)
    from_node: list[float] = []
    from_run: list[float] = []
    missed: list[str] = []
    for attempt in range(runs + 1):  # the first run warms the page up and is not counted
        started = await api.post(f"/graphs/{graph_id}/execute", json={"inputs": {"name": "Ada"}})
        started.raise_for_status()
        execution_id = started.json()["id"]
        try:
            await tab.wait_for_function(
                "id => (window.wbSeen[id] || {}).completed !== undefined", arg=execution_id, timeout=30_000
            )
        except Exception:
            missed.append(execution_id)
            continue
        shown = await tab.evaluate("id => window.wbSeen[id].completed", execution_id)
        run = (await api.get(f"/executions/{execution_id}")).json()
        last_node = max(epoch_ms(n["ended_at"]) for n in run["node_executions"] if n["ended_at"])
        if attempt:
            from_node.append(shown - last_node)
            from_run.append(shown - epoch_ms(run["ended_at"]))
        await asyncio.sleep(0.1)
    await tab.close()
    result: dict[str, Any] = {
        "runs": len(from_node),
        "not_shown_within_30s": missed,
        "last_node_ended_to_row_completed": summary(from_node) if from_node else None,
        "run_ended_to_row_completed": summary(from_run) if from_run else None,
        "target_p95_ms": LATENCY_TARGET_MS,
    }
    result["met"] = bool(from_node) and not missed and percentile(from_node, 95) < LATENCY_TARGET_MS
    return result


async def closed_loop(base_url: str, request: tuple[str, str, Any], clients: int, seconds: float) -> float:
    """Requests per second answered 2xx by ``clients`` clients, each sending the next request when
    the last one is answered, for ``seconds``."""
    method, path, body = request
    done = 0
    failed = 0
    deadline = time.monotonic() + seconds

    async def client() -> None:
        nonlocal done, failed
        async with httpx.AsyncClient(base_url=base_url + "/api/v1", timeout=60) as http:
            while time.monotonic() < deadline:
                response = await http.request(method, path, json=body)
                if response.is_success:
                    done += 1
                else:
                    failed += 1

    began = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.monotonic() - began
    if failed:
        raise RuntimeError(f"{failed} requests to {method} {path} failed")
    return done / elapsed


async def page_updates(tabs: list[Any], began: float, ended: float) -> dict[str, Any]:
    """Per tab, how many times its table showed newly completed runs between ``began`` and ``ended``
    (epoch ms) and the longest wait between two such updates: what a person watching saw while the
    pages shared the loop with the API (:mod:`workbench.ui.budget`)."""
    counts: list[int] = []
    gaps: list[float] = []
    for tab in tabs:
        seen = await tab.evaluate("Object.values(window.wbSeen).map(s => s.completed).filter(Boolean)")
        times = sorted({t for t in seen if began <= t <= ended})
        counts.append(len(times))
        marks = [began, *times, ended]
        gaps.append(max(b - a for a, b in itertools.pairwise(marks)) / 1000)
    return {
        "updates_per_tab_median": sorted(counts)[len(counts) // 2] if counts else 0,
        "updates_per_tab_min": min(counts, default=0),
        "longest_wait_s_max": round(max(gaps, default=0), 2),
    }


async def throughput(
    base_url: str,
    context: Any,
    ui_url: str,
    graph_id: str,
    pages: int,
    clients: int,
    seconds: float,
    rounds: int,
) -> dict[str, Any]:
    """(b): requests per second of each endpoint without and with ``pages`` open Monitor tabs, in
    ``rounds`` alternations (without, with, without, ..., without): each phase with pages is set
    against the mean of the phases without pages on either side (the machine's other work, such as
    PostgreSQL's autovacuum after thousands of runs, drifts; the middle of three is fairer than one
    baseline), and the median of the rounds is the figure."""
    requests = {  # the runs first: the reads then see about as many runs as in the next phase
        "POST /graphs/{id}/execute?wait=30": ("POST", f"/graphs/{graph_id}/execute?wait=30", {"inputs": {}}),
        "GET /executions": ("GET", "/executions?limit=20", None),
    }

    async def without_pages() -> dict[str, float]:
        await asyncio.sleep(SESSION_END_S)  # the server has ended the sessions of closed tabs
        found = {}
        for name, request in requests.items():
            await closed_loop(base_url, request, clients, 2)  # warm-up
            found[name] = await closed_loop(base_url, request, clients, seconds)
        return found

    baselines = [await without_pages()]
    measured: list[dict[str, float]] = []
    updates: list[dict[str, Any]] = []
    alive = 0
    for _ in range(rounds):
        tabs = [await new_tab(context, ui_url + "/monitor") for _ in range(pages)]
        for tab in tabs:
            await tab.evaluate(OBSERVE_ROWS)
        await asyncio.sleep(PAGES_SETTLE_S)  # open, not loading: the browser has drawn them all
        found = {}
        for name, request in requests.items():
            began = time.time() * 1000
            found[name] = await closed_loop(base_url, request, clients, seconds)
            if request[0] == "POST":  # how often each page showed runs ending while the API was busy
                updates.append(await page_updates(tabs, began, time.time() * 1000))
        measured.append(found)
        alive += sum([await tab.evaluate("document.querySelectorAll('*').length > 0") for tab in tabs])
        for tab in tabs:
            await tab.close()
        baselines.append(await without_pages())
    results: dict[str, Any] = {}
    for name in requests:
        drops = []
        for i, found in enumerate(measured):
            baseline = (baselines[i][name] + baselines[i + 1][name]) / 2
            drops.append(round(100 * (baseline - found[name]) / baseline, 1))
        drop = sorted(drops)[len(drops) // 2]
        results[name] = {
            "req_per_s_no_pages": [round(b[name], 1) for b in baselines],
            f"req_per_s_{pages}_pages": [round(m[name], 1) for m in measured],
            "drop_pct_per_round": drops,
            "drop_pct_median": drop,
            "met": drop < DROP_TARGET_PCT,
        }
    return {
        "open_pages": pages,
        "pages_alive_at_end": alive,
        "page_updates_during_runs": updates,
        "clients": clients,
        "seconds_each": seconds,
        "rounds": rounds,
        "target_drop_pct": DROP_TARGET_PCT,
        "endpoints": results,
    }


class TimedStream(BaseHTTPRequestHandler):
    """Passes a POST on to the local LLM server and its SSE answer back one event every ``TOKEN_GAP``
    seconds, noting when each content piece left (``sent``: (epoch ms, the text so far))."""

    upstream = ""
    sent: list[tuple[float, str]] = []

    def do_POST(self) -> None:
        """Forward, one piece at a time."""
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
        text = ""
        with httpx.stream("POST", self.upstream + self.path, content=body, headers=headers, timeout=60) as up:
            self.send_response(up.status_code)
            self.send_header("Content-Type", up.headers.get("content-type", "application/json"))
            self.send_header("Connection", "close")
            self.end_headers()
            for line in up.iter_lines():
                self.wfile.write(line.encode() + b"\n")
                self.wfile.flush()
                if line.startswith("data:") and line != "data: [DONE]":
                    choices = json.loads(line[5:])["choices"]
                    text += ((choices[0].get("delta") or {}).get("content") or "") if choices else ""
                elif not line and text != (self.sent[-1][1] if self.sent else ""):
                    # The blank line ends the SSE event: the piece has left now; the next one waits.
                    self.sent.append((time.time() * 1000, text))
                    time.sleep(TOKEN_GAP)

    def log_message(self, *_args: object) -> None:
        """Quiet."""


@contextmanager
def timed_llm() -> Iterator[tuple[Any, str, list[tuple[float, str]]]]:
    """The local LLM server, the URL of a :class:`TimedStream` in front of it, and its send log."""
    with serve() as llm:
        sent: list[tuple[float, str]] = []
        handler = type(
            "Handler", (TimedStream,), {"upstream": llm.base_url.rsplit("/v1", 1)[0], "sent": sent}
        )
        proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        try:
            yield llm, f"http://127.0.0.1:{proxy.server_address[1]}/v1", sent
        finally:
            proxy.shutdown()
            proxy.server_close()


def chat_agent() -> dict[str, Any]:
    """``message`` in, the LLM's answer out as ``reply``."""
    from blocks.ai import AITextGeneratorBlock
    from tests.engine.graphs import graph, inp, link, node, out

    g = graph(
        [
            inp("in", "message"),
            node("gen", AITextGeneratorBlock, model="gpt-4o-mini", prompt="{{ message }}"),
            out("out", "reply"),
        ],
        [link("in.result", "gen.prompt_values_#_message"), link("gen.response", "out.value")],
        name="Storyteller",
    )
    return g.model_dump(mode="json")


def _squeeze(text: str) -> str:
    return "".join(text.split())


async def chat_latency(
    context: Any, api: httpx.AsyncClient, ui_url: str, llm: Any, sent: list[tuple[float, str]], replies: int
) -> dict[str, Any]:
    """(c): from each streamed piece leaving the LLM server to the reply on the page holding it."""
    latencies: list[float] = []
    unmatched = 0
    for attempt in range(replies + 1):  # the first reply warms up and is not counted
        created = await api.post("/graphs", json=chat_agent())  # a new agent: an empty conversation
        created.raise_for_status()
        tab = await context.new_page()
        await tab.goto(f"{ui_url}/chat?agent={created.json()['id']}")
        box = tab.get_by_placeholder("Message the agent (Enter sends)")
        await box.wait_for(timeout=30_000)
        await tab.evaluate(OBSERVE_REPLIES)
        sent.clear()
        reply = CHAT_REPLY.format(name=f"Fox{attempt:03d}")
        llm.script({"content": reply})
        await box.fill(f"Tell me story number {attempt}")
        pressed = time.time() * 1000
        await box.press("Enter")
        await tab.wait_for_function(
            "want => window.wbReplies.some(([t, text]) => text.replace(/\\s+/g, '').includes(want))",
            arg=_squeeze(reply),
            timeout=60_000,
        )
        shown = [(t, text) for t, text, _n in await tab.evaluate("window.wbReplies") if t >= pressed]
        await tab.close()
        if not attempt:
            continue
        for when, text in sent:
            want = _squeeze(text)
            first = next((t for t, seen in shown if _squeeze(seen).startswith(want)), None)
            if first is None:
                unmatched += 1
            else:
                latencies.append(first - when)
    result: dict[str, Any] = {
        "replies": replies,
        "pieces": len(latencies),
        "pieces_not_seen_as_such": unmatched,
        "piece_sent_to_page_shows_it": summary(latencies) if latencies else None,
        "target_p95_ms": CHAT_TARGET_MS,
    }
    result["met"] = bool(latencies) and percentile(latencies, 95) < CHAT_TARGET_MS
    return result


async def bench(
    base_url: str, ui_url: str, llm: Any, sent: list[tuple[float, str]], args: argparse.Namespace
) -> dict[str, Any]:
    """All three measurements with one browser."""
    from playwright.async_api import async_playwright

    async with httpx.AsyncClient(base_url=base_url + "/api/v1", timeout=60) as api:
        created = await api.post("/graphs", json=HELLO)
        created.raise_for_status()
        graph_id = created.json()["id"]
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            latency = await monitor_latency(api, context, ui_url, graph_id, args.runs)
            chat = await chat_latency(context, api, ui_url, llm, sent, args.replies)
            load = await throughput(
                base_url, context, ui_url, graph_id, args.pages, args.clients, args.seconds, args.rounds
            )
            await browser.close()
    return {"monitor_latency": latency, "chat_token_latency": chat, "api_throughput": load}


def main() -> None:
    """Run the benchmark and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--replies", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-ui-live-"))
    with timed_llm() as (llm, llm_url, sent):
        env = {
            "WORKBENCH_RATE_LIMIT": "off",
            "WORKBENCH_HTTP_ALLOW": "127.0.0.0/8",  # the outbound guard lets the LLM on loopback through
            "WORKBENCH_LLM_BASE_URL": llm_url,
            "WORKBENCH_LLM_API_KEY": "test-key",
        }
        server = start_server(folder / "home", "none", env, ui=True)
        try:
            assert server.ui_url is not None
            figures = asyncio.run(bench(server.base_url, server.ui_url, llm, sent, args))
        finally:
            stop_server(server)
            shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps({"benchmark": "ui_live", **figures}, indent=2))


if __name__ == "__main__":
    main()
