"""The dashboard in `public/`, in headless Chromium driven by Selenium, against the real server.

Each test opens the page and works it as a person would — typing into its forms, pressing its
buttons — and checks what the page then shows, waiting for explicit conditions of the DOM,
never for a fixed time. The REST API is used only to set up data and to check the result.
Chromium and its driver come from Debian (`chromium`, `chromium-driver`; `.ci/setup test`
installs them); without them the tests fail, they do not skip. The screenshot goes to
`Tests/out/dashboard.png`. One test serves the page over HTTPS, its test CA trusted by the browser
through an NSS database (`certutil`, from Debian's `libnss3-tools`): no certificate error is
ignored.

Run from the repository root after `swift build`:

    python3 -m pytest -q Tests/contract/test_dashboard.py
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from access_tokens import bearer, write_token_file
from keygate_server import REPO, RunningServer, builtin_only, start_server
from png_pixels import decode_png
from tls_certificates import Authority, ServerPair

PUBLIC = REPO / "public"
OUT = REPO / "Tests" / "out"
# The longest a test waits for something it expects the page to show.
WAIT = 10.0
# How often a wait looks again: a 1 s TTL must be seen counting down.
POLL = 0.05
# The longest one test may take, start to end, whatever hangs.
TEST_BOUND = 60
LAPTOP = (1280, 800)
PHONE = (390, 844)


def unique(name: str) -> str:
    """A key no other test uses."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def bounded() -> Iterator[None]:
    """Fails a test that runs longer than TEST_BOUND seconds instead of letting it hang."""

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"the test took more than {TEST_BOUND} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(TEST_BOUND)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> RunningServer:
    """A server of the test's own, so that its page shows only its own keys (and the
    screenshot only what its test made)."""
    return start_server(request, PUBLIC, getattr(request, "param", ()))


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """Headless Chromium, from Debian's packages; a missing browser fails the tests."""
    session = launch_chromium()
    yield session
    session.quit()


def launch_chromium(home: Path | None = None) -> WebDriver:
    """Headless Chromium through its driver; with `home`, as the HOME it reads its NSS
    certificate database from (`home/.pki/nssdb`)."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.fail("chromium and chromedriver are needed: run `.ci/setup test` (apt-get install chromium chromium-driver).")
    options = Options()
    options.binary_location = chromium
    # As root Chromium refuses to start without --no-sandbox; containers have a small /dev/shm.
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    environment = None if home is None else {**os.environ, "HOME": str(home)}
    # Naming the driver keeps Selenium Manager from looking for one on the network.
    session = webdriver.Chrome(options=options, service=Service(driver, env=environment))
    session.set_page_load_timeout(WAIT)
    session.set_script_timeout(WAIT)
    return session


@pytest.fixture
def page(server: RunningServer, browser: WebDriver) -> Iterator[WebDriver]:
    """The dashboard, loaded fresh at laptop size with its event streams live; afterwards, the
    page must have logged no error and fetched nothing from another origin."""
    set_viewport(browser, *LAPTOP)
    browser.get(server.base_url + "/")
    wait(browser, lambda _: state(browser, "sync-state") == "live" and state(browser, "feed-state") == "live")
    yield browser
    logged = browser.get_log("browser")
    resources = browser.execute_script("return performance.getEntriesByType('resource').map((entry) => entry.name)")
    # Leave before the server stops, so that no reconnecting stream logs into the next test.
    browser.get("about:blank")
    errors = [
        entry["message"] for entry in logged
        # The answers the tests provoke on purpose (400s) are logged by Chromium as errors.
        if entry["level"] == "SEVERE" and "the server responded with a status of 4" not in entry["message"]
    ]
    assert errors == [], f"the page logged errors: {errors}"
    foreign = [name for name in resources if not name.startswith(server.base_url + "/")]
    assert foreign == [], f"the page fetched from elsewhere: {foreign}"


def set_viewport(browser: WebDriver, width: int, height: int) -> None:
    """Makes the page's viewport exactly `width` × `height` CSS pixels."""
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600,
    })


def wait(browser: WebDriver, condition: Callable[[WebDriver], Any], message: str = "") -> Any:
    """Waits up to WAIT seconds for `condition` to be truthy, and answers its value."""
    return WebDriverWait(browser, WAIT, poll_frequency=POLL, ignored_exceptions=(StaleElementReferenceException,)).until(
        condition, message)


def state(browser: WebDriver, element_id: str) -> str | None:
    return browser.find_element(By.ID, element_id).get_attribute("data-state")


def rows(browser: WebDriver, selector: str) -> list[WebElement]:
    return browser.find_elements(By.CSS_SELECTOR, selector)


def one(browser: WebDriver, selector: str) -> WebElement | None:
    """The element `selector` finds, or `None` (for waits)."""
    found = rows(browser, selector)
    return found[0] if found else None


def fill(browser: WebDriver, element_id: str, text: str) -> None:
    field = browser.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)


def click(browser: WebDriver, element_id: str) -> None:
    browser.find_element(By.ID, element_id).click()


def api(server: RunningServer, method: str, path: str, **options: Any) -> requests.Response:
    return requests.request(method, server.base_url + path, timeout=WAIT, **options)


def create_key(browser: WebDriver, key: str, value: str, ttl: str) -> None:
    """Creates a key through the page's form."""
    fill(browser, "create-key", key)
    fill(browser, "create-value", value)
    fill(browser, "create-ttl", ttl)
    click(browser, "create-submit")


def test_a_key_with_a_ttl_counts_down_then_its_row_vanishes_on_its_expired_event(page: WebDriver, server: RunningServer) -> None:
    key = unique("session")
    create_key(page, key, "alice", "1")
    ttl_cell = f'#key-rows tr[data-key="{key}"] td.ttl'

    first = int(wait(page, lambda _: (cell := one(page, ttl_cell)) and cell.get_attribute("data-left"), "the row never came"))
    assert 0 < first <= 1000
    shown = page.find_element(By.CSS_SELECTOR, ttl_cell).text
    assert shown.endswith(" s") and float(shown[:-2]) <= 1.0, shown
    # The countdown moves: a later reading is lower, by the clock, not by a refetch.
    wait(page, lambda _: (cell := one(page, ttl_cell)) and int(cell.get_attribute("data-left")) <= first - 200,
         "the TTL did not count down")
    assert one(page, f'#key-rows tr[data-key="{key}"] td.type').text == "string"

    entry = wait(page, lambda _: one(page, f'#feed li[data-type="expired"][data-key="{key}"]'), "no expired event in the feed")
    assert "expired" in entry.text and key in entry.text
    # The event that put the entry in the feed took the row away, in the same moment.
    assert one(page, f'#key-rows tr[data-key="{key}"]') is None
    assert one(page, f'#feed li[data-type="set"][data-key="{key}"]') is not None
    assert api(server, "GET", f"/v1/cache/{key}").status_code == 404


@builtin_only
@pytest.mark.parametrize("server", [("--memory-only", "--max-memory", "64KiB", "--eviction-policy", "allkeys-lru")],
                         indirect=True)
def test_an_evicted_key_leaves_the_list_and_shows_in_the_feed(page: WebDriver, server: RunningServer) -> None:
    first = unique("a-evicted")
    api(server, "PUT", f"/v1/cache/{first}", data=b"first")
    wait(page, lambda _: one(page, f'#key-rows tr[data-key="{first}"]'), "the row never came")
    # Keys listed after it, until the memory limit makes room by evicting it (the oldest).
    for index in range(2000):
        api(server, "PUT", f"/v1/cache/z-filler-{index:04d}", data=b"v" * 100)
        # Listing does not count as a use of the key, as a read would.
        if api(server, "GET", "/v1/keys", params={"prefix": first}).json()["keys"] == []:
            break
    else:
        pytest.fail(f"{first} was never evicted")
    entry = wait(page, lambda _: one(page, f'#feed li[data-type="evicted"][data-key="{first}"]'),
                 "no evicted event in the feed")
    assert "evicted" in entry.text
    wait(page, lambda _: one(page, f'#key-rows tr[data-key="{first}"]') is None, "the evicted key's row stayed")


def test_a_message_pushed_then_popped_through_the_page(page: WebDriver, server: RunningServer) -> None:
    name = unique("jobs")
    message = "job 42 ✓"
    fill(page, "queue-name", name)
    fill(page, "queue-message", message)
    click(page, "queue-push")

    row = f'#queue-rows tr[data-queue="{name}"]'
    wait(page, lambda _: (cell := one(page, f"{row} .length")) and cell.text == "1", "the queue's row never showed 1 message")
    assert one(page, f"{row} .consumers").text == "0"
    wait(page, lambda _: one(page, f'#feed li[data-type="push"][data-key="{name}"]'), "no push event in the feed")
    wait(page, lambda _: message in page.find_element(By.ID, "queue-messages").text, "the peek did not show the message")

    click(page, "queue-pop")
    popped = wait(page, lambda _: one(page, "#queue-popped-body"), "nothing popped")
    assert popped.text == message
    assert popped.get_attribute("data-encoding") == "text"
    # The pop took the last message, so the queue, and its row, are gone.
    wait(page, lambda _: one(page, row) is None, "the empty queue's row stayed")
    assert api(server, "GET", f"/v1/queues/{name}").json()["length"] == 0

    click(page, "queue-pop")
    wait(page, lambda _: "nothing to pop" in page.find_element(By.ID, "queue-notice").text,
         "popping an empty queue said nothing")


def test_a_message_received_on_a_lease_then_released_and_acknowledged_through_the_page(
    page: WebDriver, server: RunningServer
) -> None:
    name = unique("work")
    for job in ("job a", "job b"):
        api(server, "POST", f"/v1/queues/{name}", data=job.encode())
    row = f'#queue-rows tr[data-queue="{name}"]'

    def counts() -> tuple[str, ...]:
        return tuple(one(page, f"{row} .{cell}").text for cell in ("length", "visible", "in-flight", "delayed"))

    fill(page, "queue-name", name)
    fill(page, "queue-visibility", "30")
    click(page, "queue-receive")
    lease = wait(page, lambda _: one(page, "#queue-leases li.lease"), "no lease shown")
    assert "job a" in lease.text and "attempt 1" in lease.text and "visible again in" in lease.text
    wait(page, lambda _: one(page, row) and counts() == ("2", "1", "1", "0"), "the row never showed one in flight")
    wait(page, lambda _: one(page, f'#feed li[data-type="lease"][data-key="{name}"]'), "no lease event in the feed")

    # Released: visible again at once, at the head, and received again with its attempt counted.
    lease.find_element(By.CSS_SELECTOR, "button.release").click()
    wait(page, lambda _: one(page, "#queue-leases li.lease") is None, "the released lease stayed listed")
    wait(page, lambda _: counts() == ("2", "2", "0", "0"), "the released message did not come back")
    released = wait(page, lambda _: one(page, f'#feed li[data-type="release"][data-key="{name}"]'), "no release event")
    assert "released" in released.text
    click(page, "queue-receive")
    again = wait(page, lambda _: one(page, "#queue-leases li.lease"), "no second lease shown")
    assert "job a" in again.text and "attempt 2" in again.text

    again.find_element(By.CSS_SELECTOR, "button.ack").click()
    wait(page, lambda _: "Acknowledged" in page.find_element(By.ID, "queue-notice").text, "the acknowledgement said nothing")
    wait(page, lambda _: counts() == ("1", "1", "0", "0"), "the acknowledged message stayed")
    assert api(server, "GET", f"/v1/queues/{name}").json()["length"] == 1
    wait(page, lambda _: one(page, f'#feed li[data-type="ack"][data-key="{name}"]'), "no ack event in the feed")

    # A delayed push shows as delayed until it is due.
    fill(page, "queue-message", "later")
    fill(page, "queue-delay", "60")
    click(page, "queue-push")
    wait(page, lambda _: counts() == ("2", "1", "0", "1"), "the delayed message was not shown delayed")


@pytest.mark.parametrize("ttl", ["abc", "-1"])
def test_a_bad_ttl_shows_the_problem_the_api_answered(page: WebDriver, server: RunningServer, ttl: str) -> None:
    key = unique("bad-ttl")
    expected = api(server, "PUT", f"/v1/cache/{key}", params={"ttl": ttl}, data=b"x").json()
    assert expected["status"] == 400

    create_key(page, key, "x", ttl)
    notice = wait(page, lambda _: (found := one(page, '#create-notice[data-kind="error"]')) and found.text and found)
    assert notice.get_attribute("data-status") == "400"
    assert expected["title"] in notice.text and expected["detail"] in notice.text, notice.text
    assert api(server, "GET", f"/v1/cache/{key}").status_code == 404


def test_the_key_list_filters_by_prefix_and_pages(page: WebDriver, server: RunningServer) -> None:
    prefix = unique("page") + ":"
    names = [f"{prefix}{number:02}" for number in range(55)]
    for name in names:
        api(server, "PUT", f"/v1/cache/{name}", data=b"v")
    fill(page, "key-prefix", prefix)
    page.find_element(By.ID, "key-prefix").submit()

    def listed(_: WebDriver) -> list[str]:
        return [row.get_attribute("data-key") for row in rows(page, "#key-rows tr")]

    wait(page, lambda _: listed(page) == names[:50], "the first page is not the first 50 keys of the prefix")
    assert page.find_element(By.ID, "keys-previous").get_attribute("disabled") is not None
    click(page, "keys-next")
    wait(page, lambda _: listed(page) == names[50:], "the second page is not the last 5 keys")
    assert page.find_element(By.ID, "keys-page").text == "Page 2"
    assert page.find_element(By.ID, "keys-next").get_attribute("disabled") is not None
    click(page, "keys-previous")
    wait(page, lambda _: listed(page) == names[:50], "back to the first page")


def test_the_feed_follows_its_filters_and_explains_a_refused_one(page: WebDriver, server: RunningServer) -> None:
    fill(page, "feed-key", "[")
    click(page, "feed-apply")
    with api(server, "GET", "/v1/events", params={"key": "["}, stream=True) as refused:
        expected = refused.json()
    wait(page, lambda _: state(page, "feed-state") == "closed", "the refused stream was not shown as closed")
    notice = page.find_element(By.ID, "feed-notice")
    assert expected["title"] in notice.text and expected["detail"] in notice.text, notice.text

    prefix = unique("only")
    fill(page, "feed-key", f"{prefix}:*")
    for type_ in ("del", "expire", "persist", "expired", "evicted", "push", "pop"):
        page.find_element(By.ID, f"feed-type-{type_}").click()
    click(page, "feed-apply")
    wait(page, lambda _: state(page, "feed-state") == "live", "the filtered stream did not come up")
    assert notice.text == ""

    other = unique("other")
    api(server, "PUT", f"/v1/cache/{other}", data=b"1")
    api(server, "PUT", f"/v1/cache/{prefix}:1", data=b"1")
    api(server, "DELETE", f"/v1/cache/{prefix}:1")
    api(server, "PUT", f"/v1/cache/{prefix}:2", data=b"2")
    # Events come in order, so once the last one is in, any that passed the filter are too.
    wait(page, lambda _: one(page, f'#feed li[data-key="{prefix}:2"]'), "the matching set did not arrive")
    assert [(entry.get_attribute("data-type"), entry.get_attribute("data-key")) for entry in rows(page, "#feed li")] == [
        ("set", f"{prefix}:2"), ("set", f"{prefix}:1")]
    # The keys panel still hears every event: the key outside the filter is listed.
    wait(page, lambda _: one(page, f'#key-rows tr[data-key="{other}"]'), "the keys panel missed a filtered-out key")


def test_a_value_is_shown_edited_and_deleted_in_the_detail_panel(page: WebDriver, server: RunningServer) -> None:
    key = unique("blob")
    assert api(server, "PUT", f"/v1/cache/{key}", params={"ttl": "300"}, data=b"\x00\x01\xfe\xff",
               headers={"Content-Type": "application/octet-stream"}).status_code == 201
    button = wait(page, lambda _: one(page, f'#key-rows tr[data-key="{key}"] button'), "the set event did not list the key")
    button.click()

    text = wait(page, lambda _: (box := page.find_element(By.ID, "detail-text")).get_attribute("value") and box)
    assert page.find_element(By.ID, "detail-format").get_attribute("value") == "hex"
    assert text.get_attribute("value") == "00 01 fe ff"
    assert page.find_element(By.ID, "detail-key").text == key

    text.clear()
    text.send_keys("68 69 ff")
    click(page, "detail-save")
    wait(page, lambda _: "Saved" in page.find_element(By.ID, "detail-notice").text, "saving said nothing")
    assert api(server, "GET", f"/v1/cache/{key}").content == b"hi\xff"
    # Saving a value keeps the time the key had left.
    assert 250 < api(server, "GET", f"/v1/cache/{key}/ttl").json()["ttl"] <= 300

    fill(page, "detail-ttl-input", "-5")
    click(page, "detail-ttl-set")
    expected = api(server, "PUT", f"/v1/cache/{key}/ttl", json={"ttl": -5}).json()
    wait(page, lambda _: expected["detail"] in page.find_element(By.ID, "detail-notice").text, "the refused TTL showed no problem")

    click(page, "detail-ttl-remove")
    wait(page, lambda _: (cell := one(page, f'#key-rows tr[data-key="{key}"] td.ttl')) and cell.text == "never",
         "the row kept its TTL")
    assert api(server, "GET", f"/v1/cache/{key}/ttl").json()["ttl"] is None

    click(page, "detail-delete")
    wait(page, lambda _: one(page, f'#key-rows tr[data-key="{key}"]') is None, "the deleted key's row stayed")
    assert api(server, "GET", f"/v1/cache/{key}").status_code == 404


def test_a_signed_in_session_reads_writes_and_hears_events_with_a_token(
    browser: WebDriver, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """With access control on, the page shows the 401 until signed in; signed in, it lists,
    creates and hears events (its streams open with tickets); a token outside its scope gets
    the 403 shown; signing out closes it again."""
    file = tmp_path / "tokens.json"
    tokens = write_token_file(file, {"dashboard": ["*:*"], "reader": ["read:*", "subscribe:*"]})
    server = start_server(request, PUBLIC, ("--auth-tokens", str(file)))
    set_viewport(browser, *LAPTOP)
    browser.get(server.base_url + "/")
    try:
        wait(browser, lambda _: state(browser, "sync-state") == "closed", "the refused stream was not shown as closed")
        assert "Unauthorized" in browser.find_element(By.ID, "sync-state").text

        fill(browser, "sign-in-token", tokens["dashboard"])
        click(browser, "sign-in-submit")
        wait(browser, lambda _: state(browser, "sync-state") == "live" and state(browser, "feed-state") == "live",
             "signed in, the streams did not come up")
        assert browser.find_element(By.ID, "sign-in-state").text == "Signed in"
        assert browser.execute_script("return sessionStorage.getItem('keygate.token')") == tokens["dashboard"]
        key = unique("signed")
        create_key(browser, key, "hello", "")
        wait(browser, lambda _: one(browser, f'#key-rows tr[data-key="{key}"]'), "the created key was not listed")
        wait(browser, lambda _: one(browser, f'#feed li[data-type="set"][data-key="{key}"]'), "no set event in the feed")
        other = unique("from-elsewhere")
        api(server, "PUT", f"/v1/cache/{other}", data=b"1", headers=bearer(tokens["dashboard"]))
        wait(browser, lambda _: one(browser, f'#feed li[data-key="{other}"]'), "an event from elsewhere did not arrive")

        # A token that may not write: the page shows the 403 the API answered.
        fill(browser, "sign-in-token", tokens["reader"])
        click(browser, "sign-in-submit")
        wait(browser, lambda _: state(browser, "sync-state") == "live", "the reader's stream did not come up")
        create_key(browser, unique("refused"), "no", "")
        notice = wait(browser, lambda _: (found := browser.find_element(By.ID, "create-notice")).text and found)
        assert "Forbidden" in notice.text and "may not write" in notice.text, notice.text

        click(browser, "sign-out")
        wait(browser, lambda _: state(browser, "sync-state") == "closed", "signed out, the stream was not closed")
        assert browser.find_element(By.ID, "sign-in-state").text == "Not signed in"
        logged = browser.get_log("browser")
        errors = [entry["message"] for entry in logged
                  if entry["level"] == "SEVERE" and "the server responded with a status of 4" not in entry["message"]]
        assert errors == [], f"the page logged errors: {errors}"
    finally:
        browser.execute_script("sessionStorage.clear()")
        browser.get("about:blank")


def test_a_screenshot_of_the_page_with_live_data(page: WebDriver, server: RunningServer) -> None:
    for number, ttl in enumerate(("45", "120", "600", "3600", None), start=1):
        params = {"ttl": ttl} if ttl else {}
        api(server, "PUT", f"/v1/cache/user:{number}", params=params, data=f'{{"name":"user {number}"}}',
            headers={"Content-Type": "application/json"})
    for job in range(3):
        api(server, "POST", "/v1/queues/jobs", data=f"job {job}")
    api(server, "POST", "/v1/queues/jobs", params={"delay": "600"}, data=b"job later")
    api(server, "PUT", "/v1/cache/flash", params={"ttl": "0.5"}, data=b"gone soon")
    create_key(page, "greeting", "hello, world", "90")
    fill(page, "queue-name", "emails")
    fill(page, "queue-message", "to: ada@example.org")
    click(page, "queue-push")
    fill(page, "queue-name", "jobs")
    click(page, "queue-receive")
    wait(page, lambda _: one(page, "#queue-leases li.lease"), "no lease shown")

    wait(page, lambda _: one(page, '#feed li[data-type="expired"][data-key="flash"]'), "flash never expired")
    wait(page, lambda _: len(rows(page, "#key-rows tr")) >= 8 and len(rows(page, "#queue-rows tr")) >= 2, "the lists did not fill")
    one(page, '#key-rows tr[data-key="user:1"] button').click()
    wait(page, lambda _: '"name":"user 1"' in page.find_element(By.ID, "detail-text").get_attribute("value"))
    page.execute_script("window.scrollTo(0, 0)")

    OUT.mkdir(parents=True, exist_ok=True)
    assert_not_blank(page, OUT / "dashboard.png", LAPTOP)
    # The whole page at laptop width, the queues panel below the fold included.
    height = page.execute_script("return document.documentElement.scrollHeight")
    set_viewport(page, LAPTOP[0], height)
    assert_not_blank(page, OUT / "dashboard-full.png", (LAPTOP[0], height))

    # A phone's width: one column, nothing wider than the screen.
    set_viewport(page, *PHONE)
    wait(page, lambda _: page.execute_script("return document.documentElement.scrollWidth") <= PHONE[0],
         "the page is wider than a phone")
    assert_not_blank(page, OUT / "dashboard-phone.png", PHONE)


def assert_not_blank(browser: WebDriver, path: Any, size: tuple[int, int]) -> None:
    """Saves a screenshot at `path` and checks that it has the viewport's size and shows
    something: many colours, and no single one covering almost all of it."""
    png = browser.get_screenshot_as_png()
    path.write_bytes(png)
    image = decode_png(png)
    assert (image.width, image.height) == size
    colours = image.colour_counts()
    commonest = colours.most_common(1)[0][1]
    assert len(colours) > 100, f"{path.name} has only {len(colours)} colours"
    assert commonest < 0.9 * image.width * image.height, f"{path.name} is mostly one colour"


# --- Over HTTPS -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority.make(tmp_path_factory.mktemp("dashboard-ca"), "Keygate Dashboard Test CA")


@pytest.fixture(scope="module")
def trusting_browser(tmp_path_factory: pytest.TempPathFactory, tls_authority: Authority) -> Iterator[WebDriver]:
    """Headless Chromium whose certificate store trusts `tls_authority`: an NSS database in a
    HOME of its own, where Chromium on Linux looks for the user's trusted authorities."""
    if shutil.which("certutil") is None:
        pytest.fail("certutil is needed: run `.ci/setup test` (apt-get install libnss3-tools).")
    home = tmp_path_factory.mktemp("chromium-home")
    database = home / ".pki" / "nssdb"
    database.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{database}", "--empty-password"], check=True, timeout=WAIT)
    # Trusted to issue server certificates (C), for this database only.
    subprocess.run(["certutil", "-A", "-d", f"sql:{database}", "-n", tls_authority.name, "-t", "C,,",
                    "-i", str(tls_authority.path)], check=True, timeout=WAIT)
    session = launch_chromium(home)
    yield session
    session.quit()


def test_the_dashboard_over_https_with_its_ca_trusted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                                                      tls_authority: Authority, trusting_browser: WebDriver) -> None:
    certificate, key = tls_authority.issue("keygate-dashboard")
    pair = ServerPair.write(tmp_path_factory.mktemp("dashboard-tls"), "server", certificate, key)
    server = start_server(request, PUBLIC, ("--tls-cert", str(pair.certificate_path), "--tls-key", str(pair.key_path)))
    assert server.base_url.startswith("https://")
    browser = trusting_browser
    set_viewport(browser, *LAPTOP)
    browser.get(server.base_url + "/")
    try:
        # The page loaded as itself, not as a certificate warning, and its streams are live.
        wait(browser, lambda _: state(browser, "sync-state") == "live" and state(browser, "feed-state") == "live")
        assert browser.execute_script("return location.protocol") == "https:"
        assert browser.execute_script("return window.isSecureContext") is True

        key = unique("tls")
        create_key(browser, key, "over TLS", "600")
        wait(browser, lambda _: one(browser, f'#key-rows tr[data-key="{key}"]'), "the key's row never came")
        wait(browser, lambda _: one(browser, f'#feed li[data-type="set"][data-key="{key}"]'), "no set event in the feed")
        stored = requests.get(f"{server.base_url}/v1/cache/{key}", verify=str(tls_authority.path), timeout=WAIT)
        assert stored.content == b"over TLS"
        OUT.mkdir(parents=True, exist_ok=True)
        assert_not_blank(browser, OUT / "dashboard-tls.png", LAPTOP)

        logged = browser.get_log("browser")
        errors = [entry["message"] for entry in logged if entry["level"] == "SEVERE"]
        assert errors == [], f"the page logged errors: {errors}"
        resources = browser.execute_script("return performance.getEntriesByType('resource').map((entry) => entry.name)")
        assert [name for name in resources if not name.startswith(server.base_url + "/")] == []
    finally:
        # Leave before the server stops, so that no reconnecting stream logs errors.
        browser.get("about:blank")
