"""LiteLLM path benchmark: the gateway's LiteLLM path vs a stock LiteLLM proxy, same run.

Run with `make bench` or `.venv/bin/python bench/litellm_bench.py [--quick] [--no-stock]`.
Everything listens on 127.0.0.1 and the run is bounded. It reuses gateway_bench's stand-in,
load generator and stock proxy install, prints its figures and writes them into
bench/RESULTS.md under "LiteLLM path" (not with --quick).

Targets (issue: the gateway's LiteLLM side), all from this one run:
- added latency at c=1 (p50, non-streamed) <= 0.5x the stock proxy's;
- added p99 at c=16 <= 0.25x the stock proxy's;
- no stalled stream at c=16 (a gap between chunks over 10x the upstream's pace);
- LiteLLM's Router adds <= 1 ms p50 over a direct `litellm.acompletion` with the
  deployment's parameters (the exact-name lookup the gateway used before), measured
  in one process, interleaved, against the same stand-in.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import stock_proxy  # noqa: E402
from bench.gateway_bench import (  # noqa: E402
    BODY,
    MASTER_KEY,
    OUT,
    RESULTS,
    STREAM_PACE,
    Arm,
    free_port,
    one,
    pct,
    wait_http,
    write_config,
)
from bench.rawhttp import Connection  # noqa: E402

HEADING = "## LiteLLM path"
# The hash-pinned stock proxy the e2e test installs (tests/e2e/stock_proxy.lock), when present.
PINNED_PROXY = REPO / ".cache" / "stock-proxy" / "bin" / "litellm"
if PINNED_PROXY.exists():
    stock_proxy.VENV = PINNED_PROXY.parent.parent


async def again(conn: Connection, arm: Arm, stream: bool = False) -> tuple[float, Any]:
    """One request; if the server had closed the idle keep-alive connection, one on a new one.

    On a loaded machine a connection can sit idle past a server's keep-alive timeout
    (uvicorn's 5 s) while the other arms answer; any client reconnects then.
    """
    try:
        return await one(conn, arm, stream)
    except (asyncio.IncompleteReadError, ConnectionError):
        await conn.close()
        return await one(conn, arm, stream)


async def interleaved(arms: list[Arm], concurrency: int, per_arm: int) -> None:
    """gateway_bench's interleaving (workers cycle through the arms), reconnecting when closed."""
    rounds = max(1, per_arm // concurrency)

    async def worker(index: int) -> None:
        order = arms[index % len(arms) :] + arms[: index % len(arms)]
        conns = {arm.name: Connection(arm.base) for arm in arms}
        for arm in order:
            await again(conns[arm.name], arm)
        for _ in range(rounds):
            for arm in order:
                elapsed, _answer = await again(conns[arm.name], arm)
                arm.latencies.setdefault(concurrency, []).append(elapsed)
        for conn in conns.values():
            await conn.close()

    await asyncio.gather(*(worker(i) for i in range(concurrency)))


async def streams(arm: Arm, concurrency: int, rounds: int) -> dict[str, float]:
    """`concurrency` workers streaming `rounds` replies each; gaps and stalls."""
    gaps: list[float] = []
    stalls = 0

    async def worker() -> None:
        nonlocal stalls
        conn = Connection(arm.base)
        await again(conn, arm, stream=True)
        for _ in range(rounds):
            _elapsed, answer = await again(conn, arm, stream=True)
            for a, b in itertools.pairwise(answer.chunk_times):
                gaps.append((b - a) * 1000)
                stalls += (b - a) > STREAM_PACE * 10
        await conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"gap_p50": pct(gaps, 50), "gap_p99": pct(gaps, 99), "stalls": float(stalls)}


async def router_overhead(standin: str, rounds: int) -> dict[str, float]:
    """p50 of Router.acompletion and of litellm.acompletion, interleaved, in this process."""
    from gateway.config import parse_model_list
    from gateway.llm import load_litellm
    from gateway.routing import build_router

    litellm = load_litellm()
    params = {"model": "openai/standin", "api_base": f"{standin}/v1", "api_key": "sk-bench"}
    models = parse_model_list({"model_list": [{"model_name": "bench", "litellm_params": params}]},
                              "bench", {})  # fmt: skip
    router = build_router(litellm, models, 30.0)
    messages = BODY["messages"]
    timings: dict[str, list[float]] = {"router": [], "direct": []}
    for index in range(rounds + 20):
        for name in ("router", "direct") if index % 2 else ("direct", "router"):
            started = time.perf_counter()
            if name == "router":
                await router.acompletion(model="bench", messages=messages, max_tokens=16)
            else:
                await litellm.acompletion(messages=messages, max_tokens=16, num_retries=0,
                                          timeout=30.0, **params)  # fmt: skip
            if index >= 20:  # the first rounds warm both
                timings[name].append((time.perf_counter() - started) * 1000)
    return {name: pct(values, 50) for name, values in timings.items()}


def start_gateway(config: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GATEWAY_ALLOW_PRIVATE_UPSTREAMS": "true", "GATEWAY_LOG_LEVEL": "warning"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--config", str(config), "--port", str(port)],
        cwd=REPO, env=env, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/readiness").status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the gateway was not ready within 300 s")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    OUT.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen[bytes]] = []
    report: dict[str, Any] = {"notes": []}
    try:
        standin_port, gateway_port, proxy_port = free_port(), free_port(), free_port()
        standin = f"http://127.0.0.1:{standin_port}"
        bench_script = str(REPO / "bench" / "gateway_bench.py")
        processes.append(
            subprocess.Popen([sys.executable, bench_script, "--serve-standin", str(standin_port)])
        )
        wait_http(f"{standin}/v1/models")
        config = OUT / "litellm-bench-models.yaml"
        write_config(config, standin)
        processes.append(start_gateway(config, gateway_port))
        gateway = f"http://127.0.0.1:{gateway_port}"
        arms = [
            Arm("direct", standin, "/v1/chat/completions", {}, BODY),
            Arm("litellm", gateway, "/v1/chat/completions", {}, BODY),
        ]
        if args.no_stock:
            report["notes"].append("stock LiteLLM proxy arm skipped (--no-stock)")
        elif PINNED_PROXY.exists() or stock_proxy.install(OUT / "stock-proxy-install.log"):
            processes.append(stock_proxy.start(config, proxy_port, MASTER_KEY, seconds=300))
            headers = {"authorization": f"Bearer {MASTER_KEY}"}
            base = f"http://127.0.0.1:{proxy_port}"
            arms.append(Arm("stock_proxy", base, "/v1/chat/completions", headers, BODY))
        else:
            report["notes"].append("stock LiteLLM proxy could not be installed")
        per_arm = {1: 60, 16: 160} if args.quick else {1: 400, 16: 800}
        for c, count in per_arm.items():
            print(f"latency, interleaved, c={c} ...", flush=True)
            await interleaved(arms, c, count)
        report["latency"] = {
            arm.name: {c: (pct(arm.latencies[c], 50), pct(arm.latencies[c], 99)) for c in per_arm}
            for arm in arms
        }
        report["errors"] = {arm.name: arm.errors for arm in arms}
        print("streams at c=16 ...", flush=True)
        report["streams"] = {
            arm.name: await streams(arm, 16, 3 if args.quick else 10) for arm in arms[1:]
        }
        print("router vs direct litellm.acompletion ...", flush=True)
        report["router"] = await router_overhead(standin, 100 if args.quick else 400)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=15)
    return report


def added(report: dict[str, Any], arm: str, c: int, which: int) -> float:
    latency = report["latency"]
    return float(round(latency[arm][c][which] - latency["direct"][c][which], 3))


def verdicts(report: dict[str, Any]) -> list[str]:
    lines = []
    if "stock_proxy" in report["latency"]:
        ours, stock = added(report, "litellm", 1, 0), added(report, "stock_proxy", 1, 0)
        lines.append(f"- added p50 at c=1: LiteLLM path {ours} ms vs stock proxy {stock} ms: "
                     f"target <= 0.5x -> {'PASS' if ours <= 0.5 * stock else 'FAIL'}")  # fmt: skip
        ours, stock = added(report, "litellm", 16, 1), added(report, "stock_proxy", 16, 1)
        verdict = "PASS" if ours <= 0.25 * stock else "FAIL"
        lines.append(f"- added p99 at c=16: LiteLLM path {ours} ms vs stock proxy {stock} ms: "
                     f"target <= 0.25x -> {verdict}")  # fmt: skip
    else:
        lines.append("- stock proxy targets not measured: no stock proxy in this run")
    stalls = report["streams"]["litellm"]["stalls"]
    lines.append(f"- stalled streams at c=16 (gap > {STREAM_PACE * 10000:.0f} ms): {stalls:.0f}: "
                 f"target 0 -> {'PASS' if stalls == 0 else 'FAIL'}")  # fmt: skip
    extra = round(report["router"]["router"] - report["router"]["direct"], 3)
    lines.append(f"- Router adds {extra} ms p50 over direct litellm.acompletion: target <= 1 ms "
                 f"-> {'PASS' if extra <= 1 else 'FAIL'}")  # fmt: skip
    return lines


def markdown(report: dict[str, Any]) -> str:
    rows = [f"| {arm} | {v[1][0]} / {v[1][1]} | {v[16][0]} / {v[16][1]} |"
            for arm, v in report["latency"].items()]  # fmt: skip
    streams = [f"| {arm} | {s['gap_p50']} | {s['gap_p99']} | {s['stalls']:.0f} |"
               for arm, s in report["streams"].items()]  # fmt: skip
    return "\n".join([
        HEADING, "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        "reproduce: `.venv/bin/python bench/litellm_bench.py`",
        "- Same stand-in, load generator and stock proxy as above; the gateway waits on "
        "/health/readiness first. Requests interleaved between the arms.", "",
        *verdicts(report), "",
        "| arm (ms, p50 / p99) | c=1 | c=16 |", "| --- | --- | --- |", *rows, "",
        f"Streams at c=16 ({STREAM_PACE * 1000:.0f} ms pace), ms:", "",
        "| arm | gap p50 | gap p99 | stalls |", "| --- | --- | --- | --- |", *streams, "",
        f"Router.acompletion p50 {report['router']['router']} ms, litellm.acompletion p50 "
        f"{report['router']['direct']} ms (in-process, same stand-in)", "",
        f"Errors (non-200): {report['errors']}; notes: {'; '.join(report['notes']) or 'none'}",
        "",
    ])  # fmt: skip


def write_section(text: str) -> None:
    """Replace (or add) the LiteLLM path section of bench/RESULTS.md."""
    current = RESULTS.read_text() if RESULTS.exists() else ""
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    updated = pattern.sub(text, current) if pattern.search(current) else f"{current}\n{text}"
    RESULTS.write_text(updated)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument("--no-stock", action="store_true", help="skip the stock LiteLLM proxy arm")
    args = parser.parse_args()
    text = markdown(asyncio.run(run(args)))
    print(text)
    if not args.quick:
        write_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
