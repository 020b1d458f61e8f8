"""Widget speed, in a real browser: its size, how soon it shows, how soon a reply starts.

Measured (issue 8), against a real ``companin serve`` on a fresh instance made by
``companin init --demo`` (the offline responder: no model, as `make run` starts), with
the widget embedded in a page served from another loopback origin, in Debian's chromium
driven by Playwright:

- ``widget.js``: bytes and gzipped bytes (goal: under 20 KB gzipped);
- from the script tag's insertion to the launcher drawn, in a fresh browser context each
  time (nothing cached: the script, a widget token and the widget config are fetched);
- from sending a question (``Companin.send``) to the first streamed word shown;

each the p50 (and p95) of ``--runs`` (20) runs, timed in the page (performance.now()).

Run from the repository root:

    .venv/bin/python bench/widget_speed.py [--strict] [--runs 20]

It prints a table and writes bench/results/widget_speed.json. ``--strict`` exits 1 when a
goal is missed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for folder in (ROOT, BENCH):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from search_speed import companin_server, finish, git, load, run  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "widget_speed.json"
GOAL_GZIPPED_BYTES = 20 * 1024
CHROMIUM = os.environ.get("COMPANIN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--no-first-run"]
QUESTION = "When are you open?"  # the demo knowledge answers it

# Runs in the page: insert the script tag, resolve with the ms until the launcher is drawn.
TIME_TO_LAUNCHER = """
([src, data]) => new Promise((resolve, reject) => {
  const start = performance.now();
  const tag = document.createElement("script");
  tag.src = src;
  Object.assign(tag.dataset, data);
  document.body.append(tag);
  const limit = setTimeout(() => reject(new Error("no launcher after 30 s")), 30000);
  (function look() {
    const host = document.querySelector("[data-companin-instance]");
    const launcher = host && host.shadowRoot && host.shadowRoot.querySelector(".launcher");
    if (launcher && launcher.getBoundingClientRect().width > 0) {
      clearTimeout(limit);
      resolve(performance.now() - start);
    } else {
      requestAnimationFrame(look);
    }
  })();
})
"""

# Runs in the page, the panel open: send, resolve with the ms until the reply shows a word.
TIME_TO_FIRST_WORD = """
(question) => new Promise((resolve, reject) => {
  const root = document.querySelector("[data-companin-instance]").shadowRoot;
  const before = root.querySelectorAll(".bubble.assistant").length;
  const start = performance.now();
  Companin.send(question);
  const limit = setTimeout(() => reject(new Error("no reply after 30 s")), 30000);
  (function look() {
    const replies = root.querySelectorAll(".bubble.assistant");
    const reply = replies.length > before ? replies[replies.length - 1] : null;
    if (reply && /\\w/.test(reply.textContent)) {
      clearTimeout(limit);
      resolve(performance.now() - start);
    } else {
      requestAnimationFrame(look);
    }
  })();
})
"""


class _Page(BaseHTTPRequestHandler):
    """The host site: an empty shop page on its own origin."""

    def do_GET(self):  # noqa: N802 - the base class's name
        body = b"<!doctype html><html><head><meta charset=utf-8></head><body><h1>Shop</h1>"
        status = 204 if self.path == "/favicon.ico" else 200
        self.send_response(status)
        if status == 200:
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status == 200:
            self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(values), 1),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
        "max_ms": round(ordered[-1], 1),
    }


def measure(runs: int) -> dict:
    from playwright.sync_api import sync_playwright

    report: dict = {}
    with tempfile.TemporaryDirectory(prefix="companin-widget-") as tmp:
        instance = Path(tmp) / "instance"
        subprocess.run(
            [sys.executable, "-m", "companin", "init", "--demo"],
            env={**os.environ, "COMPANIN_INSTANCE_PATH": str(instance)},
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        demo = json.loads((instance / "demo-credentials.json").read_text())
        pages = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
        threading.Thread(target=pages.serve_forever, daemon=True).start()
        os.environ.pop("COMPANIN_LLM_MODEL", None)  # the offline responder, as `make run`
        try:
            with companin_server(instance, Path(tmp), None) as server:
                script = (ROOT / "companin" / "widget" / "widget.js").read_bytes()
                report["widget_js"] = {
                    "bytes": len(script),
                    "gzipped_bytes": len(gzip.compress(script, 9)),
                }
                data = {
                    "clientId": demo["client_id"],
                    "assistantId": demo["assistant_id"],
                    "configId": demo["widget_config_id"],
                    "instanceId": "bench",
                }
                page_url = f"http://127.0.0.1:{pages.server_address[1]}/shop"
                to_launcher, to_word = [], []
                with sync_playwright() as playwright:
                    browser = playwright.chromium.launch(
                        executable_path=CHROMIUM, args=CHROMIUM_ARGS
                    )
                    for number in range(runs + 1):  # the first run warms the server up
                        context = browser.new_context()
                        page = context.new_page()
                        page.goto(page_url)
                        shown = page.evaluate(TIME_TO_LAUNCHER, [f"{server.url}/widget.js", data])
                        page.evaluate("Companin.open()")
                        page.wait_for_function(
                            "document.querySelector('[data-companin-instance]')"
                            ".shadowRoot.querySelector('.panel:not([hidden]) .bubble')"
                        )
                        word = page.evaluate(TIME_TO_FIRST_WORD, QUESTION)
                        context.close()
                        if number:
                            to_launcher.append(shown)
                            to_word.append(word)
                    browser.close()
                report["script_tag_to_launcher"] = summary(to_launcher)
                report["send_to_first_word_offline"] = summary(to_word)
        finally:
            pages.shutdown()
            pages.server_close()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--strict", action="store_true", help="exit 1 if a goal is missed")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    report: dict = {
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_changes_in_companin": bool(git("status", "--porcelain", "--", "companin")),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cores": os.cpu_count(),
        "chromium": CHROMIUM,
        "load_1min_start": load(),
    }
    report.update(measure(args.runs))
    report["load_1min_end"] = load()
    report["run_seconds"] = round(time.perf_counter() - started, 1)
    gzipped = report["widget_js"]["gzipped_bytes"]
    report["goals"] = [
        {
            "goal": "widget.js under 20 KB gzipped",
            "measured": f"{gzipped / 1024:.1f} KB",
            "passed": gzipped < GOAL_GZIPPED_BYTES,
        }
    ]
    return finish(report, args, print_table)


def print_table(report: dict) -> None:
    size = report["widget_js"]
    print(f"widget.js: {size['bytes']} bytes, {size['gzipped_bytes']} gzipped")
    for name in ("script_tag_to_launcher", "send_to_first_word_offline"):
        s = report[name]
        print(f"{name:28} n={s['n']} p50 {s['p50_ms']} ms  p95 {s['p95_ms']} ms")
    for goal in report["goals"]:
        print(f"{goal['goal']:40} {goal['measured']:>10}  {'PASS' if goal['passed'] else 'FAIL'}")


if __name__ == "__main__":
    run(main)
