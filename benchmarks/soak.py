"""Bounded soak against one real `harvis serve` (embedded node, SmolLM2): several users run
well-behaved traffic in a loop — SSE chats (/api/chat), OpenAI chats with an API key
(/v1/chat/completions), voice turns (/api/voice/turn, a spoken WAV) and voice WebSocket
sessions (/api/voice/ws) — for `--seconds`, then again for `--seconds` with a hostile mix
running beside them: oversized uploads (declared and chunked), unauthenticated uploads, huge
prompts, clients that leave mid-stream, bad JSON and lone surrogates.

Printed (and written with --json): p50/p95 of the well-behaved requests per kind in each
phase and phase2/phase1 (goal: p95 ≤ 2×), the backend's peak VmRSS per phase, every 5xx
(goal 0), and "nothing lost": every answered chat and voice turn has the user's message and
the answer in the user's session (GET /api/sessions/{id}/messages).

Command (from the repo root):
  .venv/bin/python benchmarks/soak.py --seconds 150 --json /tmp/soak.json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the drivers live with the tests that share them

from tests.support.backend import login, signup, start_backend, token_of  # noqa: E402
from tests.support.load import percentile  # noqa: E402
from tests.support.raw_http import BOUNDARY, MB, multipart_chunks, post_raw, rss_bytes  # noqa: E402
from tests.support.speech import api_key  # noqa: E402
from tests.support.voice_e2e import pcm16_frames, spoken_wav  # noqa: E402

MODEL = "smollm2:135m"
KINDS = ("chat", "v1", "voice", "ws")
TIMEOUT_S = 180.0  # one request; longer is reported as a hang


@dataclass
class Sample:
    phase: int
    kind: str
    status: int  # HTTP status (0: no answer); a WebSocket session that ended in `done` is 200
    ok: bool
    latency_s: float
    detail: str = ""


@dataclass
class Saved:
    """What a client was answered, to find again in the user's session afterwards."""

    user: int
    kind: str
    session_id: str
    said: str
    answer: str


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    hostile: list[Sample] = field(default_factory=list)
    saved: list[Saved] = field(default_factory=list)
    rss_peak: dict[int, int] = field(default_factory=dict)


async def sse(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    events, name = [], "message"
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            events.append((name, json.loads(line[5:])))
            if name in ("done", "error"):
                break
    return events


def text_of(events: list[tuple[str, dict[str, Any]]]) -> str:
    return "".join(d["text"] for n, d in events if n == "token")


# ---- well-behaved ----------------------------------------------------------------------------


async def chat(c: httpx.AsyncClient, user: int, i: int, run: Run, phase: int) -> Sample:
    said = f"User {user} asks question {i}: name a color."
    payload = {"message": said, "options": {"num_predict": 16, "temperature": 0}}
    async with c.stream("POST", "/api/chat", json=payload) as r:
        if r.status_code != 200:
            return Sample(phase, "chat", r.status_code, False, 0, (await r.aread()).decode()[:200])
        events = await sse(r)
    done = events and events[-1][0] == "done"
    if done:
        sid = next(d["session_id"] for n, d in events if n == "session")
        run.saved.append(Saved(user, "chat", sid, said, text_of(events)))
    return Sample(phase, "chat", 200, bool(done), 0, "" if done else str(events[-1:])[:200])


async def v1(c: httpx.AsyncClient, key: str, i: int, phase: int) -> Sample:
    r = await c.post(
        "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "model": MODEL,
            "max_tokens": 16,
            "temperature": 0,
            "messages": [{"role": "user", "content": f"Say one word about number {i}."}],
        },
    )
    ok = r.status_code == 200 and r.json()["choices"][0]["message"]["content"] is not None
    return Sample(phase, "v1", r.status_code, ok, 0, "" if ok else r.text[:200])


async def voice(c: httpx.AsyncClient, user: int, wav: bytes, run: Run, phase: int) -> Sample:
    async with c.stream("POST", "/api/voice/turn", files={"audio": ("q.wav", wav)}) as r:
        if r.status_code != 200:
            return Sample(phase, "voice", r.status_code, False, 0, (await r.aread()).decode()[:200])
        events = await sse(r)
    done = events and events[-1][0] == "done"
    if done:
        sid = next(d["session_id"] for n, d in events if n == "session")
        heard = next(d["text"] for n, d in events if n == "transcript")
        run.saved.append(Saved(user, "voice", sid, heard, text_of(events)))
    return Sample(phase, "voice", 200, bool(done), 0, "" if done else str(events[-1:])[:200])


async def ws_session(url: str, token: str, frames: list[bytes], phase: int) -> Sample:
    async with connect(f"{url}/api/voice/ws?token={token}", open_timeout=30, max_size=2**24) as ws:

        async def until(kind: str) -> dict[str, Any]:
            for _ in range(10_000):  # bounded: a turn sends far fewer events
                event = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))
                if event["type"] in (kind, "error"):
                    return dict(event)
            raise AssertionError(f"no {kind} event")

        await until("ready")
        await ws.send(json.dumps({"type": "start"}))
        await until("listening")
        for frame in frames:
            await ws.send(frame)
        done = await until("done")
    ok = done["type"] == "done"
    return Sample(phase, "ws", 200 if ok else 0, ok, 0, "" if ok else str(done)[:200])


async def user_loop(
    n: int,
    url: str,
    token: str,
    key: str,
    media: tuple[bytes, list[bytes]],
    run: Run,
    phase: int,
    end: float,
    rounds: int = 100_000,
) -> None:
    wav, frames = media
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=TIMEOUT_S) as c:
        for i in range(rounds):  # and bounded by `end`
            if time.monotonic() >= end:
                return
            kind = KINDS[(i + n) % len(KINDS)]
            start = time.monotonic()
            try:
                if kind == "chat":
                    s = await chat(c, n, i, run, phase)
                elif kind == "v1":
                    s = await v1(c, key, i, phase)
                elif kind == "voice":
                    s = await voice(c, n, wav, run, phase)
                else:
                    s = await ws_session(url.replace("http://", "ws://"), token, frames, phase)
            except Exception as exc:  # a hang or a dropped connection: counted, never waited out
                s = Sample(phase, kind, 0, False, 0, repr(exc)[:200])
            s.latency_s = time.monotonic() - start
            run.samples.append(s)


# ---- hostile -----------------------------------------------------------------------------------


def upload(url: str, path: str, field_name: str, mb: int, token: str | None, declared: bool) -> int:
    body = multipart_chunks(field_name, mb * MB)
    first = next(body)
    length = len(first) + mb * MB + len(f"\r\n--{BOUNDARY}--\r\n") if declared else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return post_raw(url, path, itertools.chain([first], body), headers=headers, content_length=length)


async def leave_mid_stream(c: httpx.AsyncClient, path: str, payload: dict[str, Any]) -> int:
    async with c.stream("POST", path, json=payload) as r:
        async for _line in r.aiter_lines():
            break  # the first line of the answer, then the client goes away
        return r.status_code


def raw_json(obj: Any) -> dict[str, Any]:
    """A body httpx would refuse to encode (lone surrogates survive as \\ud800 escapes)."""
    return {"content": json.dumps(obj).encode(), "headers": {"Content-Type": "application/json"}}


def hostile_jobs(url: str, token: str, key: str) -> list[tuple[str, Any]]:
    huge_messages = [{"role": "user", "content": "word " * 50} for _ in range(5000)]  # 1.25M chars
    bearer = {"Authorization": f"Bearer {key}"}
    return [
        (
            "upload_declared_30mb",
            lambda c: asyncio.to_thread(upload, url, "/api/voice/turn", "audio", 30, token, True),
        ),
        (
            "upload_chunked_30mb",
            lambda c: asyncio.to_thread(upload, url, "/api/voice/turn", "audio", 30, token, False),
        ),
        (
            "unauth_upload_25mb",
            lambda c: asyncio.to_thread(upload, url, "/v1/audio/transcriptions", "file", 25, None, False),
        ),
        (
            "huge_prompt_5000_messages",
            lambda c: c.post(
                "/v1/chat/completions", headers=bearer, json={"model": MODEL, "messages": huge_messages}
            ),
        ),
        ("huge_message_1m_chars", lambda c: c.post("/api/chat", json={"message": "x" * 1_100_000})),
        (
            "leave_mid_stream_chat",
            lambda c: leave_mid_stream(c, "/api/chat", {"message": "Tell me a long story."}),
        ),
        (
            "leave_mid_stream_v1",
            lambda c: leave_mid_stream(
                c,
                "/v1/chat/completions",
                {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "A long story."}]},
            ),
        ),
        (
            "bad_json",
            lambda c: c.post(
                "/api/chat", content=b'{"message": "hi"', headers={"Content-Type": "application/json"}
            ),
        ),
        ("lone_surrogate_chat", lambda c: c.post("/api/chat", **raw_json({"message": "a\ud800b"}))),
        (
            "lone_surrogate_v1",
            lambda c: c.post(
                "/v1/chat/completions",
                **raw_json({"model": MODEL, "messages": [{"role": "user", "content": "a\ud800b"}]}),
            ),
        ),
        ("lone_surrogate_title", lambda c: c.post("/api/sessions", **raw_json({"title": "a\ud800b"}))),
    ]


async def hostile_loop(n: int, url: str, token: str, key: str, run: Run, end: float) -> None:
    jobs = hostile_jobs(url, token, key)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT_S
    ) as c:
        for i in range(100_000):  # bounded by `end`
            if time.monotonic() >= end:
                return
            name, job = jobs[(i + n * 5) % len(jobs)]
            start = time.monotonic()
            try:
                got = await job(c)
                status = got if isinstance(got, int) else got.status_code
                detail = "" if isinstance(got, int) or got.status_code < 500 else got.text[:200]
            except Exception as exc:
                status, detail = 0, repr(exc)[:200]
            run.hostile.append(Sample(2, name, status, 400 <= status < 500, time.monotonic() - start, detail))


# ---- the run -----------------------------------------------------------------------------------


async def watch_rss(pid: int, run: Run, phase: int, end: float) -> None:
    for _ in range(1_000_000):  # bounded by `end`
        if time.monotonic() >= end:
            return
        run.rss_peak[phase] = max(run.rss_peak.get(phase, 0), rss_bytes(pid))
        await asyncio.sleep(0.1)


async def phase(
    n: int,
    args: argparse.Namespace,
    url: str,
    pid: int,
    users: list[tuple[str, str]],
    media: tuple[bytes, list[bytes]],
    run: Run,
) -> None:
    end = time.monotonic() + args.seconds
    tasks = [user_loop(i, url, t, k, media, run, n, end) for i, (t, k) in enumerate(users)]
    if n == 2:
        tasks += [hostile_loop(i, url, users[0][0], users[0][1], run, end) for i in range(args.hostile)]
    watcher = asyncio.create_task(watch_rss(pid, run, n, end + TIMEOUT_S))
    await asyncio.gather(*tasks)
    watcher.cancel()


def nothing_lost(url: str, tokens: list[str], saved: list[Saved]) -> list[str]:
    lost = []
    for s in saved:
        r = httpx.get(
            f"{url}/api/sessions/{s.session_id}/messages",
            headers={"Authorization": f"Bearer {tokens[s.user]}"},
            timeout=60,
        )
        msgs = r.json() if r.status_code == 200 else []
        said = any(m["role"] == "user" and m["content"] == s.said for m in msgs)
        answered = any(m["role"] == "assistant" and m["content"] == s.answer for m in msgs)
        if not (said and answered):
            lost.append(
                f"{s.kind} {s.session_id}: said saved {said}, answer saved {answered} ({r.status_code})"
            )
    return lost


def summarize(run: Run) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in KINDS:
        row: dict[Any, Any] = {}
        for p in (1, 2):
            mine = [s for s in run.samples if s.kind == kind and s.phase == p]
            ok = [s.latency_s for s in mine if s.ok]
            row[p] = {"n": len(mine), "ok": len(ok), "p50_s": percentile(ok, 50), "p95_s": percentile(ok, 95)}
        a, b = row[1]["p95_s"], row[2]["p95_s"]
        row["p95_ratio"] = round(b / a, 2) if a and b else None
        out[kind] = row
    return out


def report(run: Run, summary: dict[str, Any], lost: list[str], args: argparse.Namespace, load: Any) -> int:
    f = lambda v: f"{v:.2f}" if v is not None else "-"  # noqa: E731
    print(
        f"\nsoak: {args.users} users, {args.seconds:.0f}s per phase, {args.hostile} hostile loops in phase 2"
    )
    print(
        f"{'kind':6} {'ok 1':>5} {'p50 1':>7} {'p95 1':>7} {'ok 2':>5} {'p50 2':>7} {'p95 2':>7} "
        f"{'p95 2/1':>8}"
    )
    for kind, row in summary.items():
        one, two = row[1], row[2]
        print(
            f"{kind:6} {one['ok']:>5} {f(one['p50_s']):>7} {f(one['p95_s']):>7} {two['ok']:>5} "
            f"{f(two['p50_s']):>7} {f(two['p95_s']):>7} {f(row['p95_ratio']):>8}"
        )
    failed = [s for s in run.samples if not s.ok]
    fivexx = [s for s in run.samples + run.hostile if s.status >= 500]
    print("\nhostile (phase 2; status 0: the server closed the connection before an answer was read):")
    for name in sorted({h.kind for h in run.hostile}):
        mine = [h for h in run.hostile if h.kind == name]
        print(f"  {name:28} n={len(mine):<3} statuses={sorted({h.status for h in mine})}")
    rss = {p: round(v / MB) for p, v in run.rss_peak.items()}
    print(f"\npeak backend RSS MB per phase: {rss}")
    print(f"well-behaved failures: {len(failed)}; 5xx (all requests): {len(fivexx)}")
    for s in (failed + fivexx)[:10]:
        print(f"  phase {s.phase} {s.kind} {s.status}: {s.detail}")
    print(f"nothing lost: {len(run.saved) - len(lost)}/{len(run.saved)} answered turns found saved")
    for line in lost[:10]:
        print(f"  {line}")
    print(f"load average at start {load[0]}, at end {load[1]}")
    return 0 if not fivexx and not lost and not failed else 1


async def soak(
    args: argparse.Namespace,
    url: str,
    pid: int,
    users: list[tuple[str, str]],
    media: tuple[bytes, list[bytes]],
) -> Run:
    run = Run()
    for n in (1, 2):
        print(f"phase {n}: {args.seconds:.0f}s", file=sys.stderr)
        await phase(n, args, url, pid, users, media, run)
    return run


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=150.0, help="load per phase (≤ 300)")
    parser.add_argument("--users", type=int, default=3)
    parser.add_argument("--hostile", type=int, default=2, help="hostile loops beside the users in phase 2")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    if not 0 < args.seconds <= 300:
        parser.error("--seconds must be in (0, 300]: the soak is bounded")
    tmp = Path(tempfile.mkdtemp(prefix="harvis-soak-"))
    wav = spoken_wav("What color is the sky on a clear day?", tmp / "q.wav")
    media = (wav, pcm16_frames(wav, silence_s=1.2))
    load = [list(os.getloadavg())]
    env = {"HARVIS_SPEECH__PRELOAD": "true", "HARVIS_PIPELINE__MAX_ANSWER_TOKENS": "24"}
    backend = start_backend(tmp / "data", env=env, timeout=300)
    try:
        users = []
        for i in range(args.users):
            name = f"soak{i}"
            signup(backend.url, name)
            client = login(backend.url, name, timeout=300)
            if i == 0:  # the first account is the admin: let the others sign up
                client.patch("/api/admin/settings", json={"allow_signup": True}).raise_for_status()
            users.append((token_of(client), api_key(client, "soak")))
            client.close()
        # one turn of each kind first: model loads are not what this measures
        token, key = users[0]
        warmed = Run()
        warm = user_loop(0, backend.url, token, key, media, warmed, 0, time.monotonic() + 600, len(KINDS))
        asyncio.run(warm)
        for s in warmed.samples:
            print(f"warm-up {s.kind}: {s.status} ok={s.ok} {s.latency_s:.1f}s {s.detail}", file=sys.stderr)
        run = asyncio.run(soak(args, backend.url, backend.pid, users, media))
        lost = nothing_lost(backend.url, [t for t, _ in users], run.saved)
        alive = backend.popen.poll() is None
    finally:
        backend.stop()
    load.append(list(os.getloadavg()))
    summary = summarize(run)
    code = report(run, summary, lost, args, [[round(x, 2) for x in v] for v in load])
    print(f"backend alive at the end: {alive}; log: {backend.log_path}")
    if args.json:
        doc = {
            "args": vars(args) | {"json": str(args.json)},
            "summary": summary,
            "rss_peak_mb": {p: round(v / MB) for p, v in run.rss_peak.items()},
            "fivexx": [asdict(s) for s in run.samples + run.hostile if s.status >= 500],
            "failures": [asdict(s) for s in run.samples if not s.ok],
            "hostile": [asdict(h) for h in run.hostile],
            "saved": len(run.saved),
            "lost": lost,
            "loadavg": load,
            "cpus": os.cpu_count(),
        }
        args.json.write_text(json.dumps(doc, indent=2))
    return code if alive else 1


if __name__ == "__main__":
    raise SystemExit(main())
