"""Safe by default: the control plane, secrets, and the small ones.

Each test performs an attack or misuse against a real server on a loopback port (or a
real ``understudy serve`` process) and asserts the safe outcome.
"""

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from understudy.pytest_plugin import UnderstudyServer, free_port, serve_in_thread
from understudy.scenarios import ScenarioError

ServerFactory = Callable[..., str]

ADMIN = "/_understudy"
EVIL = "https://evil.example"
HELLO = "name: hello\ndefault: true\nreply: {content: Hello from the file.}\n"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {"model": "claude-x", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
ATTACK = "name: pwned\ndefault: true\nreply: {content: attacker text}\n"


def cors_headers(response: httpx.Response) -> list[str]:
    return [name for name in response.headers if name.lower().startswith("access-control-")]


def admin_error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "details"}, body
    return body["error"]


def reply_text(base_url: str) -> str:
    response = httpx.post(f"{base_url}/v1/chat/completions", json=CHAT)
    return response.json()["choices"][0]["message"]["content"]


# --- control plane: web pages --------------------------------------------------------


@pytest.mark.parametrize("origin", [EVIL, "null", "http://localhost:5173"])
def test_cross_origin_journal_read_is_refused(base_url: str, origin: str) -> None:
    httpx.post(f"{base_url}/v1/chat/completions", json=CHAT)
    response = httpx.get(f"{base_url}{ADMIN}/journal", headers={"Origin": origin})
    assert response.status_code == 403
    assert cors_headers(response) == []
    assert "other origins" in admin_error(response)["message"]
    assert "entries" not in response.text


def test_the_servers_own_origin_and_clients_without_one_are_served(base_url: str) -> None:
    own = httpx.get(f"{base_url}{ADMIN}/journal", headers={"Origin": base_url})
    assert own.status_code == 200 and "entries" in own.json()
    assert cors_headers(own) == []
    assert httpx.get(f"{base_url}{ADMIN}/journal").status_code == 200


@pytest.mark.parametrize(
    ("site", "status"),
    [("cross-site", 403), ("same-site", 403), ("same-origin", 200), ("none", 200)],
)
def test_sec_fetch_site_from_another_site_is_refused(base_url: str, site: str, status: int) -> None:
    """``same-site`` too: sites ignore ports, so every other server on localhost is one."""
    response = httpx.get(f"{base_url}{ADMIN}/scenarios", headers={"Sec-Fetch-Site": site})
    assert response.status_code == status
    assert cors_headers(response) == []


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
    ],
)
def test_a_scenario_post_a_page_could_send_without_preflight_is_415(
    serve: ServerFactory, content_type: str | None
) -> None:
    base_url = serve(HELLO)
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = httpx.post(f"{base_url}{ADMIN}/scenarios", content=ATTACK, headers=headers)
    assert response.status_code == 415
    assert "application/json or application/yaml" in admin_error(response)["message"]
    assert response.headers["accept-post"] == "application/json, application/yaml"
    assert reply_text(base_url) == "Hello from the file."


def test_the_text_plain_post_from_a_page_is_refused_before_anything(serve: ServerFactory) -> None:
    """The whole attack from the issue: a no-preflight POST from another origin."""
    base_url = serve(HELLO)
    response = httpx.post(
        f"{base_url}{ADMIN}/scenarios",
        content=ATTACK,
        headers={"Content-Type": "text/plain", "Origin": EVIL, "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 403 and cors_headers(response) == []
    reset = httpx.post(f"{base_url}{ADMIN}/reset", headers={"Origin": EVIL})
    assert reset.status_code == 403
    assert reply_text(base_url) == "Hello from the file."


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/yaml", "application/x-yaml", "text/yaml"]
)
def test_json_and_yaml_bodies_are_accepted(serve: ServerFactory, content_type: str) -> None:
    base_url = serve(HELLO)
    body = json.dumps({"name": "mine", "default": True, "reply": {"content": "mine"}})
    response = httpx.post(
        f"{base_url}{ADMIN}/scenarios", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 201, response.text
    assert reply_text(base_url) == "mine"


def test_a_bodyless_reset_needs_no_content_type_but_a_typed_one_must_be_json(
    serve: ServerFactory,
) -> None:
    base_url = serve(HELLO)
    assert httpx.post(f"{base_url}{ADMIN}/reset").status_code == 200
    typed = httpx.post(f"{base_url}{ADMIN}/reset", headers={"Content-Type": "text/plain"})
    assert typed.status_code == 415


def test_an_admin_preflight_gets_no_allow_headers(base_url: str) -> None:
    preflight = httpx.options(
        f"{base_url}{ADMIN}/scenarios",
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 403
    assert cors_headers(preflight) == []
    # Without an Origin it is no preflight: the admin API has no OPTIONS routes.
    plain = httpx.options(f"{base_url}{ADMIN}/scenarios")
    assert plain.status_code == 405 and cors_headers(plain) == []
    assert admin_error(plain)["message"] == f"No admin route OPTIONS {ADMIN}/scenarios."


def test_model_routes_keep_cors_for_browser_apps(base_url: str) -> None:
    preflight = httpx.options(
        f"{base_url}/v1/chat/completions",
        headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] in ("*", EVIL)
    response = httpx.post(f"{base_url}/v1/chat/completions", json=CHAT, headers={"Origin": EVIL})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"


# --- control plane: the Host header --------------------------------------------------


@pytest.mark.parametrize(
    ("path", "method", "body"),
    [
        (f"{ADMIN}/journal", "GET", None),
        (f"{ADMIN}/scenarios", "POST", {"name": "x", "default": True, "reply": {"content": "x"}}),
        ("/v1/chat/completions", "POST", CHAT),
        ("/v1/messages", "POST", MESSAGES),
        ("/v1/models", "GET", None),
        ("/health", "GET", None),
    ],
)
def test_dns_rebinding_a_foreign_host_is_refused_on_every_route(
    base_url: str, path: str, method: str, body: Any
) -> None:
    """A page on ``evil.example`` rebound to 127.0.0.1 is same-origin to itself: its
    requests carry ``Host: evil.example`` and, for POSTs, its own ``Origin``."""
    port = httpx.URL(base_url).port
    response = httpx.request(
        method,
        f"{base_url}{path}",
        json=body,
        headers={"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"},
    )
    assert response.status_code == 400
    assert cors_headers(response) == []
    body = response.json()
    if path.startswith(ADMIN):
        message = admin_error(response)["message"]
    elif path == "/v1/messages":
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
        message = body["error"]["message"]
    else:
        assert body["error"]["type"] == "invalid_request_error"
        message = body["error"]["message"]
    assert message.startswith("Invalid Host header 'evil.example:")
    assert "--allowed-host" in message


@pytest.mark.parametrize(
    "host",
    ["localhost", "LOCALHOST.", "app.localhost", "127.0.0.1", "127.8.9.10", "[::1]", "10.1.2.3"],
)
def test_loopback_names_and_ip_addresses_are_answered(base_url: str, host: str) -> None:
    port = httpx.URL(base_url).port
    response = httpx.get(f"{base_url}{ADMIN}/journal", headers={"Host": f"{host}:{port}"})
    assert response.status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "localhost.evil.example", "127.0.0.1.nip.io"])
def test_names_that_could_be_rebound_are_not(base_url: str, host: str) -> None:
    response = httpx.get(f"{base_url}/health", headers={"Host": host})
    assert response.status_code == 400


def test_allowed_hosts_let_configured_names_through(serve: ServerFactory) -> None:
    base_url = serve(HELLO, allowed_hosts=["understudy", ".corp.example"], host="mock.lan")
    for host in ["understudy:8000", "corp.example", "ci.corp.example", "mock.lan"]:
        response = httpx.post(f"{base_url}/v1/chat/completions", json=CHAT, headers={"Host": host})
        assert response.status_code == 200, host
    refused = httpx.get(f"{base_url}/health", headers={"Host": "evil.example"})
    assert refused.status_code == 400


def test_a_star_answers_any_host(serve: ServerFactory) -> None:
    base_url = serve(HELLO, allowed_hosts=["*"])
    response = httpx.get(f"{base_url}{ADMIN}/journal", headers={"Host": "evil.example"})
    assert response.status_code == 200


def test_the_plugins_server_refuses_admin_calls_without_its_token(
    understudy_server: UnderstudyServer,
) -> None:
    """The in-process server of this pytest session: another process on the machine
    cannot change what the tests get."""
    url = understudy_server.base_url
    assert understudy_server.admin_token and len(understudy_server.admin_token) >= 32
    for method, path in [("GET", "journal"), ("POST", "reset"), ("GET", "scenarios")]:
        response = httpx.request(method, f"{url}{ADMIN}/{path}")
        assert response.status_code == 401, path
        assert "admin token" in admin_error(response)["message"]
    assert understudy_server.admin("GET", "scenarios")["namespace"] == ""
    # Model routes need no token.
    assert httpx.post(f"{url}/v1/chat/completions", json=CHAT).status_code == 200


# --- secrets ---------------------------------------------------------------------------

SECRET_HEADERS = {
    "Authorization": ("Bearer sk-secret-authorization", "Bearer [redacted]"),
    "Proxy-Authorization": ("Basic c2VjcmV0LXByb3h5", "Basic [redacted]"),
    "Cookie": ("session=secret-cookie-value", "[redacted]"),
    "X-Api-Key": ("secret-x-api-key", "[redacted]"),
    "Api-Key": ("secret-azure-api-key", "[redacted]"),
    "X-Goog-Api-Key": ("secret-goog-key", "[redacted]"),
    "Anthropic-Api-Key": ("secret-anthropic-key", "[redacted]"),
    "OpenAI-Api-Key": ("secret-openai-key", "[redacted]"),
    "X-Auth-Token": ("secret-auth-token", "[redacted]"),
    "X-Client-Secret": ("secret-client-secret", "[redacted]"),
    "X-Password": ("secret-password", "[redacted]"),
}
SECRET_QUERY = {
    "api-key": "secret-q-api-key",
    "api_key": "secret-q-api_key",
    "key": "secret-q-key",
    "token": "secret-q-token",
    "access_token": "secret-q-access-token",
}


def test_every_secret_header_and_query_parameter_is_redacted_in_the_journal(
    serve: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    base_url = serve(HELLO, api_keys=["sk-secret-authorization"])
    headers = {name: value for name, (value, _) in SECRET_HEADERS.items()}
    headers |= {"Idempotency-Key": "stainless-retry-1", "X-Team": "qa"}
    query = {**SECRET_QUERY, "keep": "visible"}
    response = httpx.post(
        f"{base_url}/v1/chat/completions", params=query, json=CHAT, headers=headers
    )
    assert response.status_code == 200
    wrong = {"Authorization": "Bearer secret-wrong-key-0123456789"}
    assert (
        httpx.post(f"{base_url}/v1/chat/completions", json=CHAT, headers=wrong).status_code == 401
    )

    entries = httpx.get(f"{base_url}{ADMIN}/journal").json()["entries"]
    entry = entries[0]
    for name, (_, shown) in SECRET_HEADERS.items():
        assert entry["headers"][name.lower()] == shown, name
    assert entry["headers"]["idempotency-key"] == "stainless-retry-1"
    assert entry["headers"]["x-team"] == "qa"
    shown_query = dict(part.split("=", 1) for part in entry["query"].split("&"))
    assert shown_query == {**dict.fromkeys(SECRET_QUERY, "[redacted]"), "keep": "visible"}
    server_logs = [r for r in caplog.records if r.name.startswith(("understudy", "uvicorn"))]
    everything = json.dumps(entries) + "\n".join(r.getMessage() for r in server_logs)
    for value in [*(v for v, _ in SECRET_HEADERS.values()), *SECRET_QUERY.values()]:
        secret = value.split(" ")[-1].split("=")[-1]
        assert secret not in everything, secret
    assert "secret-wrong-key-0123456789" not in everything


# --- scenario response headers ---------------------------------------------------------


def error_with_headers(headers: str) -> str:
    return f"name: h\ndefault: true\nreply:\n  error:\n    status: 503\n    headers:\n{headers}"


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ('      "X Bad": v\n', "'X Bad' is not a header name"),
        ('      "x-evil": "a\\r\\nSet-Cookie: pwned=1"\n', "CR, LF or another control"),
        ('      "x-split": "a\\nb"\n', "CR, LF or another control"),
        ('      "x-emoji": "caf\\u00e9 \\u2615"\n', "must be latin-1 text"),
        ("      Content-Length: 0\n", "'Content-Length' is a framing or hop-by-hop header"),
        ("      Transfer-Encoding: chunked\n", "framing or hop-by-hop"),
        ("      Connection: close\n", "framing or hop-by-hop"),
        ("      Keep-Alive: timeout=5\n", "framing or hop-by-hop"),
        ("      Upgrade: h2c\n", "framing or hop-by-hop"),
        ("      TE: trailers\n", "framing or hop-by-hop"),
        ("      Trailer: x\n", "framing or hop-by-hop"),
        ("      Proxy-Authenticate: Basic\n", "framing or hop-by-hop"),
        ("      Host: elsewhere\n", "framing or hop-by-hop"),
        pytest.param(f"      x-long: {'a' * 8193}\n", "8193 bytes, more than 8192", id="long"),
    ],
)
def test_bad_scenario_response_headers_are_refused_at_load(
    serve: ServerFactory, header: str, problem: str
) -> None:
    base_url = serve(HELLO)
    response = httpx.post(
        f"{base_url}{ADMIN}/scenarios",
        content=error_with_headers(header),
        headers={"Content-Type": "application/yaml"},
    )
    assert response.status_code == 400
    [detail] = admin_error(response)["details"]
    assert detail.startswith("<request>:6: reply.error.headers: "), detail
    assert problem in detail


def test_a_bad_header_in_a_scenario_file_names_file_line_and_field(
    serve: ServerFactory, tmp_path: Path
) -> None:
    with pytest.raises(ScenarioError) as caught:
        serve(error_with_headers("      x-ok: fine\n      Content-Length: 5\n"))
    [problem] = caught.value.problems
    assert problem.endswith(
        "s0.yaml:6: reply.error.headers: 'Content-Length' is a framing or hop-by-hop header; "
        "the server sets it"
    )


def test_good_scenario_response_headers_are_sent(serve: ServerFactory) -> None:
    base_url = serve(error_with_headers(f'      X-Why: "caf\\xe9; {"b" * 100}"\n'))
    response = httpx.post(f"{base_url}/v1/chat/completions", json=CHAT)
    assert response.status_code == 503
    assert response.headers["x-why"].encode("latin-1") == f"caf\xe9; {'b' * 100}".encode("latin-1")


# --- integer query parameters ----------------------------------------------------------


@pytest.mark.parametrize("limit", ["²", "-1", "1.5", "ten", "٣x"])
def test_a_bad_journal_limit_is_a_400_not_a_500(base_url: str, limit: str) -> None:
    response = httpx.get(f"{base_url}{ADMIN}/journal", params={"limit": limit})
    assert response.status_code == 400
    assert admin_error(response)["message"].startswith("'limit' must be a non-negative integer")


def test_a_good_journal_limit_keeps_the_newest(serve: ServerFactory) -> None:
    base_url = serve(HELLO)
    for _ in range(3):
        httpx.post(f"{base_url}/v1/chat/completions", json=CHAT)
    entries = httpx.get(f"{base_url}{ADMIN}/journal", params={"limit": " 2"}).json()["entries"]
    assert [entry["id"] for entry in entries] == [2, 3]


# --- SIGTERM -------------------------------------------------------------------------

SLOW = """
name: slow
default: true
delivery: {itl_ms: 40}
reply:
  content: "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty"
"""


def test_sigterm_drains_the_open_stream_and_exits_zero(tmp_path: Path) -> None:
    (tmp_path / "slow.yaml").write_text(SLOW)
    port = free_port()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "understudy", "serve", "--port", str(port)),
            *("--scenarios", str(tmp_path), "--allowed-host", "understudy", "--no-reload"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "server")},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, process.communicate()[1]
            try:
                if httpx.get(f"{url}/health", headers={"Host": "understudy:8000"}).is_success:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        assert httpx.get(f"{url}/health", headers={"Host": "evil.example"}).status_code == 400
        with httpx.stream(
            "POST", f"{url}/v1/chat/completions", json={**CHAT, "stream": True}, timeout=10
        ) as response:
            chunks = response.iter_bytes()
            received = next(chunks)
            process.send_signal(signal.SIGTERM)
            received += b"".join(chunks)
        assert received.rstrip().endswith(b"data: [DONE]")
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = process.stderr.read() if process.stderr else ""
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr


# --- hot reload of a truncated file ---------------------------------------------------------


def test_a_truncated_then_rewritten_file_never_serves_an_empty_catalog(tmp_path: Path) -> None:
    scenario = tmp_path / "only.yaml"
    scenario.write_text(HELLO.replace("Hello from the file.", "v1"))
    with serve_in_thread([str(tmp_path)]) as base_url:
        assert reply_text(base_url) == "v1"
        scenario.write_text("")  # an editor truncates ...
        until = time.monotonic() + 0.8
        while time.monotonic() < until:  # ... and for a while the file is empty
            assert reply_text(base_url) == "v1"
            time.sleep(0.05)
        scenario.write_text(HELLO.replace("Hello from the file.", "v2"))  # ... then writes
        deadline = time.monotonic() + 10
        while reply_text(base_url) != "v2":
            assert time.monotonic() < deadline, "the rewritten file was not served"
            time.sleep(0.05)


def test_a_file_emptied_on_purpose_is_dropped_after_the_grace_period(tmp_path: Path) -> None:
    (tmp_path / "fallback.yaml").write_text(HELLO.replace("Hello from the file.", "fallback"))
    chosen = tmp_path / "chosen.yaml"
    chosen.write_text("name: chosen\nmatch: {contains: pick}\nreply: {content: chosen}\n")
    body = {"model": "m", "messages": [{"role": "user", "content": "pick"}]}

    def picked() -> str:
        response = httpx.post(f"{base_url}/v1/chat/completions", json=body)
        return response.json()["choices"][0]["message"]["content"]

    with serve_in_thread([str(tmp_path)]) as base_url:
        assert picked() == "chosen"
        chosen.write_text("")
        started = time.monotonic()
        while picked() == "chosen":
            assert time.monotonic() - started < 10, "the emptied file was never dropped"
            time.sleep(0.05)
        assert time.monotonic() - started >= 1.5
        assert picked() == "fallback"


# --- instance id -----------------------------------------------------------------------


def test_health_and_journal_entries_name_the_server_instance(serve: ServerFactory) -> None:
    before = datetime.now(UTC)
    first = serve(HELLO)
    health = httpx.get(f"{first}/health").json()
    assert len(health["instance_id"]) == 16 and int(health["instance_id"], 16) >= 0
    started = datetime.fromisoformat(health["started_at"])
    assert before.timestamp() - 1 <= started.timestamp() <= time.time()
    httpx.post(f"{first}/v1/chat/completions", json=CHAT)
    [entry] = httpx.get(f"{first}{ADMIN}/journal").json()["entries"]
    assert entry["instance_id"] == health["instance_id"]
    assert entry["server_started_at"] == health["started_at"]
    # Another server (a restart) is another instance.
    second = httpx.get(f"{serve(HELLO)}/health").json()
    assert second["instance_id"] != health["instance_id"]


def test_metrics_answer_no_other_origin(base_url: str) -> None:
    """``/metrics`` names every scenario and counts its traffic: no CORS headers for a
    page on another origin, while model routes keep answering it."""
    page = {"Origin": "https://evil.example"}
    metrics = httpx.get(f"{base_url}/metrics", headers=page)
    assert metrics.status_code == 200
    assert "access-control-allow-origin" not in metrics.headers
    preflight = httpx.options(
        f"{base_url}/metrics", headers={**page, "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    models = httpx.get(f"{base_url}/v1/models", headers=page)
    assert models.headers["access-control-allow-origin"] == "*"


@pytest.mark.anyio
async def test_the_lifespan_gets_past_the_cors_guard() -> None:
    """The CORS guard also sees the lifespan scope, which has no path: startup must still
    complete, or the server runs without its scenario watcher and state backend."""
    from understudy.app import create_app
    from understudy.settings import Settings

    app = create_app(Settings(scenarios=[], reload=False))
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
