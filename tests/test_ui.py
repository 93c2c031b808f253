"""The dashboard, end to end in a real headless browser (Playwright driving Debian's
chromium), against a real server, with traffic from the official SDKs.

Screenshots of the run are saved to docs/images/dashboard-*.png.
"""

import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import anthropic
import httpx
import openai
import pytest

from tests.conftest import ServerFactory

CHROMIUM = "/usr/bin/chromium"
IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"
UI = "/_understudy/ui"

# CI (.ci/run) sets UNDERSTUDY_BROWSER_TESTS=required: there a missing browser is a failure.
REQUIRED = os.environ.get("UNDERSTUDY_BROWSER_TESTS") == "required"
if REQUIRED:
    import playwright.sync_api as sync_api
else:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]'")
if not shutil.which(CHROMIUM):
    reason = f"no {CHROMIUM}: install Debian's chromium (apt-get install chromium), as .ci/run does"
    if REQUIRED:
        raise RuntimeError(reason)
    pytest.skip(reason, allow_module_level=True)
expect = sync_api.expect

SCENARIOS = """
name: chat-slow
match: {headers: {x-test: "^slow$"}}
reply:
  content: "one two three four five six seven eight nine ten eleven twelve"
  delivery: {ttft_ms: 20, itl_ms: 80}
---
name: chat-paced
match: {api: chat}
reply:
  content: "one two three four five"
  delivery: {ttft_ms: 40, itl_ms: 10}
---
name: messages-stall-cut
match: {api: messages}
reply:
  content: "one two three four five six seven eight"
  delivery: {ttft_ms: 20, itl_ms: 5}
  fault:
    - {kind: stall, after_events: 3, seconds: 0.3, keepalive_every: 0.1}
    - {kind: disconnect, after_events: 6}
---
name: responses-limited
match: {api: responses}
reply:
  error: rate_limit
"""

BROKEN = """name: broken
reply:
  content: hi
  tool_calls:
    - name: lookup
      arguments: 42
"""

VALID = """name: from-the-browser
match: {model: ui-model}
reply: {content: "added in the browser"}
"""

HOSTILE_MODEL = "<img src=x onerror=window.pwned=1>"


@pytest.fixture(scope="module")
def browser() -> Iterator["sync_api.Browser"]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


class Watched:
    """A page whose console errors and outgoing requests are kept for assertions."""

    def __init__(self, browser: "sync_api.Browser", base_url: str) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 860})
        self.page.set_default_timeout(10_000)
        self.errors: list[str] = []
        self.requests: list[sync_api.Request] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("request", lambda request: self.requests.append(request))
        self.origin = urlsplit(base_url).netloc

    def assert_clean(self, *answered: int) -> None:
        """No console errors but Chromium's own line for each admin call the test made
        fail on purpose (it logs every 4xx fetch), and no request off the origin."""
        expected = [f"the server responded with a status of {status}" for status in answered]
        unexpected = [e for e in self.errors if not any(text in e for text in expected)]
        assert unexpected == []
        hosts = {urlsplit(request.url).netloc for request in self.requests}
        schemes = {urlsplit(request.url).scheme for request in self.requests}
        assert hosts == {self.origin}, hosts  # nothing leaves the origin
        assert schemes == {"http"}, schemes  # not even data: or blob: fetches


@pytest.fixture
def watch(serve: ServerFactory, browser: "sync_api.Browser") -> Iterator[Callable[[str], Watched]]:
    """Open watched pages; they are closed before the servers stop (which otherwise wait
    for the page's live journal stream to end)."""
    opened: list[Watched] = []

    def open_page(base_url: str) -> Watched:
        opened.append(Watched(browser, base_url))
        return opened[-1]

    yield open_page
    for watched in opened:
        watched.page.close()


def cut_short(stream: Iterable[object]) -> Exception:
    """The error a stream cut by the server raises (from the SDK's own HTTP client)."""
    try:
        for _ in stream:
            pass
    except Exception as error:
        return error
    raise AssertionError("the stream was read to its end")


def row(page: "sync_api.Page", api: str) -> "sync_api.Locator":
    return page.locator("#requests tbody tr").filter(
        has=page.locator("td[data-col=api]", has_text=api)
    )


def cell(locator: "sync_api.Locator", column: str) -> "sync_api.Locator":
    return locator.locator(f"td[data-col={column}]")


def test_requests_appear_live_and_a_stream_shows_its_timeline(
    serve: ServerFactory, watch: Callable[[str], Watched]
) -> None:
    base_url = serve(SCENARIOS)
    watched = watch(base_url)
    page = watched.page
    page.goto(base_url + UI)
    expect(page.locator("#live-status")).to_have_text("live")

    # A streamed chat, read to the end.
    oai = openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0)
    chunks = oai.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    # A Messages stream that stalls after 3 events, then is cut by the server after 6.
    claude = anthropic.Anthropic(base_url=base_url, api_key="sk-ant", max_retries=0)
    with claude.messages.stream(
        model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        assert "incomplete chunked read" in str(cut_short(stream))
    # A Responses 429.
    with pytest.raises(openai.RateLimitError):
        oai.responses.create(model="gpt-4.1", input="hi")
    # A chat stream the client leaves after three chunks; its model is hostile HTML.
    slow = oai.chat.completions.create(
        model=HOSTILE_MODEL,
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        extra_headers={"x-test": "slow"},
    )
    for index, _ in enumerate(slow):
        if index == 2:
            break
    slow.close()

    rows = page.locator("#requests tbody tr")
    expect(rows).to_have_count(4)
    # Newest first: the abandoned chat, the 429, the cut Messages stream, the first chat.
    expect(cell(rows.nth(0), "scenario")).to_have_text("chat-slow")
    expect(cell(rows.nth(1), "api")).to_have_text("responses")
    responses = row(page, "responses")
    expect(cell(responses, "status")).to_have_text("429")
    expect(cell(responses, "scenario")).to_have_text("responses-limited")
    expect(cell(responses, "model")).to_have_text("gpt-4.1")
    messages = row(page, "messages")
    expect(cell(messages, "status")).to_have_text("200")
    expect(cell(messages, "events")).to_have_text("6")
    expect(cell(messages, "read")).to_have_text("no: cut by the server")
    chat = rows.nth(3)
    expect(cell(chat, "scenario")).to_have_text("chat-paced")
    expect(cell(chat, "read")).to_have_text("yes")
    expect(cell(chat, "ttft")).to_have_text(re.compile(r"^\d+ ms$"))
    expect(cell(rows.nth(0), "model")).to_have_text(HOSTILE_MODEL)  # shown as text
    expect(cell(rows.nth(0), "read")).to_have_text(re.compile(r"^no: left after \d+$"))

    # Filters.
    page.select_option("#filters select[name=status]", "4")
    expect(rows).to_have_count(1)
    page.select_option("#filters select[name=status]", "")
    page.select_option("#filters select[name=fault]", "yes")  # the 429 is a fault too
    expect(rows.locator("td[data-col=api]")).to_have_text(["responses", "messages"])
    page.fill("#filters input[name=scenario]", "stall")
    expect(rows).to_have_count(1)
    page.fill("#filters input[name=scenario]", "")
    page.select_option("#filters select[name=fault]", "")
    expect(rows).to_have_count(4)

    # One request: the stall and the cut, at the right events.
    messages.locator("button").press("Enter")
    detail = page.locator("#detail")
    expect(detail.locator("dd[data-fact='Defined at']")).to_have_text(re.compile(r"s0\.yaml:14$"))
    expect(detail.locator("dd[data-fact=Fault]")).to_contain_text("stall")
    stall = detail.locator("svg rect[data-kind=stall]")
    expect(stall).to_have_attribute("data-after-events", "3")
    expect(detail.locator("svg line[data-kind=cut]")).to_have_attribute("data-after-events", "6")
    expect(detail.locator("svg line.sent")).to_have_count(6)
    assert detail.locator("svg circle[data-kind=keepalive]").count() >= 2
    marks = detail.locator(".marks")
    expect(marks).to_contain_text("Stall after 3 events")
    expect(marks).to_contain_text("cut the connection after 6 events")
    # The stall sits between the third and the fourth event on the picture.
    box = stall.bounding_box()
    third = detail.locator("svg line.sent[data-event='3']").bounding_box()
    fourth = detail.locator("svg line.sent[data-event='4']").bounding_box()
    assert box and third and fourth
    assert third["x"] <= box["x"] + 1 and fourth["x"] >= box["x"] + box["width"] - 1
    page.screenshot(path=str(IMAGES / "dashboard-requests.png"))

    # The client that left: its disconnect is drawn after the events it was sent.
    entry = httpx.get(f"{base_url}/_understudy/journal", params={"scenario": "chat-slow"})
    left_after = entry.json()["entries"][0]["disconnected_after_event"]
    rows.nth(0).locator("button").click()
    gone = detail.locator("svg line[data-kind=disconnect]")
    expect(gone).to_have_attribute("data-after-events", str(left_after))
    expect(detail.locator("#entry-body")).to_contain_text(HOSTILE_MODEL)
    assert page.evaluate("window.pwned") is None

    watched.assert_clean()


def test_runtime_scenarios_are_validated_inline_and_answer_the_next_request(
    serve: ServerFactory, watch: Callable[[str], Watched]
) -> None:
    base_url = serve(SCENARIOS)
    watched = watch(base_url)
    page = watched.page
    page.goto(base_url + UI)
    expect(page.locator("#live-status")).to_have_text("live")
    page.locator("#tab-requests").press("ArrowRight")  # keyboard: to the next tab
    expect(page.locator("#tab-scenarios")).to_be_focused()
    expect(page.locator("#view-scenarios")).to_be_visible()
    listed = page.locator("#scenarios tbody tr[data-name]")
    expect(listed).to_have_count(4)
    expect(listed.nth(2).locator("td.where")).to_have_text(re.compile(r"s0\.yaml:14$"))

    page.fill("#editor-text", BROKEN)
    page.click("#editor button[type=submit]")
    problems = page.locator("#editor-result .problems li")
    expect(problems).to_have_text(
        ["<request>:6: reply.tool_calls[0].arguments: must be an object or a JSON string"]
    )
    expect(listed).to_have_count(4)

    page.fill("#editor-text", VALID)
    page.click("#editor button[type=submit]")
    expect(page.locator("#editor-result p.ok")).to_have_text("Saved from-the-browser.")
    expect(listed).to_have_count(5)
    added = page.locator("#scenarios tr[data-name=from-the-browser]")
    expect(added).to_contain_text("runtime (global)")
    expect(added.locator("td.where")).to_have_text("<request>:1")
    page.screenshot(path=str(IMAGES / "dashboard-scenarios.png"))

    oai = openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0)
    answer = oai.chat.completions.create(
        model="ui-model", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content == "added in the browser"
    page.click("#tab-requests")
    expect(cell(page.locator("#requests tbody tr").nth(0), "scenario")).to_have_text(
        "from-the-browser"
    )
    page.click("#tab-scenarios")
    expect(added.locator("td[data-col=hits]")).to_have_text("1")

    # Try it: a Messages stream answered by a chosen scenario, raw SSE as it arrives.
    page.click("#tab-try")
    page.select_option("#try select[name=api]", "messages")
    page.select_option("#try select[name=scenario]", "chat-paced")
    page.click("#try button[type=submit]")
    expect(page.locator("#try-status")).to_contain_text("done")
    expect(page.locator("#try-status")).to_contain_text("HTTP 200 text/event-stream")
    output = page.locator("#try-output")
    expect(output).to_contain_text("event: message_start")
    expect(output).to_contain_text("event: message_stop")
    page.click("#tab-requests")
    expect(cell(page.locator("#requests tbody tr").nth(0), "scenario")).to_have_text("chat-paced")

    # Delete it again, from the keyboard.
    page.click("#tab-scenarios")
    added.get_by_role("button", name="Delete from-the-browser").press("Enter")
    expect(listed).to_have_count(4)
    watched.assert_clean(400)  # the broken scenario


def test_with_an_admin_token_the_page_asks_for_it_or_takes_it_from_the_fragment(
    serve: ServerFactory, watch: Callable[[str], Watched]
) -> None:
    base_url = serve(SCENARIOS, admin_token="s3cret")
    watched = watch(base_url)
    page = watched.page
    page.goto(base_url + UI)  # the page itself loads; its data does not
    expect(page.locator("#live-status")).to_have_text("needs the admin token")
    page.fill("#token-input", "wrong")
    page.press("#token-input", "Enter")
    expect(page.locator("#token-form")).to_be_visible()  # asked again
    page.fill("#token-input", "s3cret")
    page.press("#token-input", "Enter")
    expect(page.locator("#live-status")).to_have_text("live")

    other = watch(base_url)
    other.page.goto(f"{base_url}{UI}#token=s3cret")
    expect(other.page.locator("#live-status")).to_have_text("live")
    assert "s3cret" not in other.page.url  # taken out of the address bar
    for request in [*watched.requests, *other.requests]:
        assert "s3cret" not in request.url
    sent = [r.headers.get("authorization") for r in other.requests if "/journal" in r.url]
    assert sent and set(sent) == {"Bearer s3cret"}
    watched.assert_clean(401)  # before the token, and with the wrong one
    other.assert_clean()


def test_the_page_is_static_and_locked_to_its_origin(serve: ServerFactory) -> None:
    base_url = serve(SCENARIOS, admin_token="s3cret")
    page = httpx.get(base_url + UI)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "s3cret" not in page.text
    script = httpx.get(f"{base_url}{UI}/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    for name in ["nope.js", "..%2Fadmin.py", "ui.py", "%2e%2e%2fsettings.py", "index.html%00"]:
        assert httpx.get(f"{base_url}{UI}/{name}").status_code == 404, name
    assert httpx.get(f"{base_url}{UI}/", follow_redirects=False).headers["location"] == UI
    # The data behind the page still needs the token.
    assert httpx.get(f"{base_url}/_understudy/journal").status_code == 401
