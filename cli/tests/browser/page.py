"""The page of `vtid serve` in a real headless Chromium (Debian's), driven by Playwright.

Run by `cli/tests/web.rs` against a fresh server: seeds records through the JSON API,
then checks that the page lists them, filters by status, finds a record by a word of
its title, opens a VTID with its subtasks
and history, shows the audit, and shows a create made by another client without a
reload; that the counts per status follow live changes, the columns sort, the filters
offer known values, a child shows its ancestors, durations read as durations, a status
can be changed from the page (and a stale or refused change says why), the ledger fits a
390 px phone, and a ledger that cannot be reached is said so and recovered from. Writes a
screenshot of each view to --shots. Exits non-zero on the first failure, saying what was
expected.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

from playwright.sync_api import expect, sync_playwright

CHROMIUM = os.environ.get("VTID_CHROMIUM", "/usr/bin/chromium")
# Flags that work in a container without a GPU, a sandbox or a network beyond loopback.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000
expect.set_options(timeout=TIMEOUT_MS)
STATUSES = ["pending", "active", "blocked", "complete", "failed", "cancelled"]
# The secret `web.rs` gives the server that checks tokens: for a second caller's token.
SECRET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "hs256-test-secret")
PHONE = {"width": 390, "height": 844}


def call(base, method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=20) as res:
        return json.loads(res.read())


def create(base, token=None, **fields):
    body = {"taskFamily": "deploy", "taskType": "release", "description": "ship it", "tenant": "acme"}
    body.update(fields)
    return call(base, "POST", "/vtid/create", body, token)["vtid"]


def patch(base, vtid, **fields):
    call(base, "PATCH", f"/vtid/{vtid}", fields)


def get(base, vtid, token=None):
    return call(base, "GET", f"/vtid/{vtid}", token=token)["data"]


def hs256(claims):
    """A token signed with the fixture secret, as `cli/tests/common/tokens.rs` makes them."""
    b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    with open(SECRET, "rb") as f:
        key = f.read().strip()
    signing = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(json.dumps(claims).encode())
    return signing + "." + b64(hmac.new(key, signing.encode(), hashlib.sha256).digest())


def quiet_page(context, errors):
    """A page that records script errors only: for checks that provoke 4xx answers or
    refused connections, which Chromium logs as console errors by design."""
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    return page


def seed(base):
    """A release with two subtasks (one with its own), a blocked task, a test record."""
    release = create(base, title="Release 2026.5", assignedTo="alice",
                     description="The May release train", metadata={"train": "2026.5"})
    patch(base, release, status="active")
    patch(base, release, metadata={"owner": "release-managers"})
    build = create(base, title="Build artefacts", parentVtid=release, taskType="build")
    patch(base, build, status="active")
    patch(base, build, status="complete")
    rollout = create(base, title="Roll out to EU", parentVtid=release, taskType="rollout",
                     assignedTo="bob")
    canary = create(base, title="Canary in eu-west-1", parentVtid=rollout, taskType="canary")
    patch(base, rollout, status="blocked")
    blocked = create(base, title="Rotate signing keys", taskFamily="security",
                     taskType="rotation", tenant="globex", assignedTo="carol")
    patch(base, blocked, status="blocked")
    create(base, title="A test record", isTest=True)
    return {"release": release, "build": build, "rollout": rollout, "canary": canary,
            "blocked": {rollout, blocked}, "visible": 5, "release_history": 3}


def check_token_prompt(browser, base, token, shot):
    """With token checking on, the page asks for a token and keeps it in the tab only."""
    secured = create(base, token, title="Behind a token")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(base + "/")
    expect(page.locator("h1")).to_have_text("A token is needed")
    expect(page.locator("#live")).to_have_text("no live updates without a token")
    expect(page.locator("#token-refused")).to_have_count(0)
    shot(page, "token.png")
    # A bad token comes back with the ledger's reason, not a bare prompt.
    page.fill("#token", "not-a-token")
    page.click("button[type=submit]")
    expect(page.locator("#token-refused")).to_contain_text("The ledger refused the token you gave")
    expect(page.locator("#token-refused")).to_contain_text("base64url")
    shot(page, "token-refused.png")
    page.fill("#token", token)
    page.click("button[type=submit]")
    expect(page.locator(f"tbody a:text-is('{secured}')")).to_be_visible()
    expect(page.locator("#live")).to_have_text("live")
    kept = page.evaluate("[sessionStorage.length, localStorage.length, document.cookie]")
    assert kept == [1, 0, ""], f"the token only in sessionStorage, found {kept}"
    fresh = create(base, token, title="Seen live behind a token")
    expect(page.locator(f"tbody a:text-is('{fresh}')")).to_be_visible()
    assert context.cookies() == [], "no cookies"
    # Another tab starts without it.
    other = context.new_page()
    other.goto(base + "/")
    expect(other.locator("h1")).to_have_text("A token is needed")
    page.click("#forget")
    expect(page.locator("h1")).to_have_text("A token is needed")
    assert page.evaluate("sessionStorage.length") == 0
    context.close()


def counts(page):
    """The counts per status as shown, once every status has one."""
    expect(page.locator(".counts a b")).to_have_count(len(STATUSES))
    return {s: int(page.locator(f".counts a.s-{s} b").inner_text()) for s in STATUSES}


def expect_counts(page, want):
    for s in STATUSES:
        expect(page.locator(f".counts a.s-{s} b")).to_have_text(str(want[s]))


def check_counts_follow_live_changes(page, base):
    """Counts cover every status under the other filters: changes by another client move
    them without a reload, also while the list is filtered to one status."""
    page.goto(base + "/#/?status=blocked")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    before = counts(page)
    page.evaluate("window.__sameDocument = true")
    moved = create(base, title="Counted live")
    want = dict(before, pending=before["pending"] + 1)
    expect_counts(page, want)
    patch(base, moved, status="active")
    want = dict(want, pending=want["pending"] - 1, active=want["active"] + 1)
    expect_counts(page, want)
    patch(base, moved, status="complete")
    want = dict(want, active=want["active"] - 1, complete=want["complete"] + 1)
    expect_counts(page, want)
    expect(rows).to_have_count(2)
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
    # The unfiltered ledger too.
    page.goto(base + "/#/")
    before = counts(page)
    patch(base, moved, status="complete")  # the same status: no change, no event
    patch(base, create(base, title="Cancelled at once"), status="cancelled")
    expect_counts(page, dict(before, cancelled=before["cancelled"] + 1))


def titles(rows):
    return rows.locator("td.c-title").all_inner_texts()


def check_columns_and_sorting(page, base):
    """A created column; a header click sorts the shown rows, the next reverses them, and
    the sorted column says so with aria-sort. The sort survives a live refresh."""
    page.goto(base + "/#/")
    rows = page.locator("tbody tr")
    expect(rows.first).to_be_visible()
    heads = page.locator("thead th").all_inner_texts()
    assert "Created" in [t.rstrip(" ▲▼") for t in heads], f"a Created column, headers {heads}"
    n = rows.count()
    expect(page.locator("tbody td.c-created time")).to_have_count(n)
    vtid_th = page.locator("th[data-key=vtid]")
    title_th = page.locator("th[data-key=title]")
    expect(vtid_th).to_have_attribute("aria-sort", "descending")
    expect(page.locator("th[aria-sort]")).to_have_count(1)
    shown = titles(rows)
    title_th.locator("button").click()
    expect(title_th).to_have_attribute("aria-sort", "ascending")
    expect(page.locator("th[aria-sort]")).to_have_count(1)
    assert titles(rows) == sorted(shown, key=str.casefold), f"titles A to Z, got {titles(rows)}"
    title_th.locator("button").click()
    expect(title_th).to_have_attribute("aria-sort", "descending")
    assert titles(rows) == sorted(shown, key=str.casefold, reverse=True), f"titles Z to A, got {titles(rows)}"
    # A live refresh keeps the order the reader chose.
    fresh = create(base, title="Zebra crossing")
    expect(rows).to_have_count(n + 1)
    assert titles(rows)[0] == "Zebra crossing", f"the new row sorted in, got {titles(rows)}"
    expect(title_th).to_have_attribute("aria-sort", "descending")
    vtid_th.locator("button").click()
    expect(vtid_th).to_have_attribute("aria-sort", "ascending")
    numbers = [int(v.split("-")[2]) for v in rows.locator("td.c-vtid").all_inner_texts()]
    assert numbers == sorted(numbers), f"VTIDs oldest first, got {numbers}"
    vtid_th.locator("button").click()
    expect(vtid_th).to_have_attribute("aria-sort", "descending")
    assert rows.first.locator("td").first.inner_text() == fresh, "back to newest first"


def check_filters_offer_known_values(page):
    """The family, tenant and assignee filters offer the values of the loaded records."""
    page.goto(page.url.split("#")[0] + "#/")
    expect(page.locator("tbody tr").first).to_be_visible()
    for field, values in [("taskFamily", {"deploy", "security", "hotfix"}),
                          ("tenant", {"acme", "globex"}), ("assignedTo", {"alice", "carol"})]:
        expect(page.locator(f"input[name={field}]")).to_have_attribute("list", f"known-{field}")
        options = page.locator(f"datalist#known-{field} option")
        expect(options.first).to_be_attached()
        offered = set(options.evaluate_all("els => els.map(e => e.value)"))
        assert values <= offered, f"{field} offers {sorted(offered)}, missing {sorted(values - offered)}"


def check_search(page, base, data):
    """Typing part of a word of a title, in another case, into the search box lists that
    record and no other; the search stays in the URL and in the box."""
    page.goto(base + "/#/")
    rows = page.locator("tbody tr")
    expect(rows.first).to_be_visible()
    page.fill("input[name=q]", "  ARTEF ")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/#/?q=ARTEF")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td.c-vtid")).to_have_text(data["build"])
    expect(page.locator("input[name=q]")).to_have_value("ARTEF")
    page.reload()
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td.c-vtid")).to_have_text(data["build"])


def check_ancestors(page, base, data):
    """A child shows its ancestors as links, at most ten levels up."""
    page.goto(base + f"/#/vtid/{data['canary']}")
    crumbs = page.locator("nav.crumbs a")
    expect(crumbs).to_have_text(["Ledger", data["release"], data["rollout"]])
    expect(page.locator("nav.crumbs [aria-current=page]")).to_have_text(data["canary"])
    crumbs.nth(1).click()
    page.wait_for_url(f"**/#/vtid/{data['release']}")
    expect(page.locator("nav.crumbs a")).to_have_text(["Ledger"])
    # Twelve generations (test records, out of the ledger's way): the last shows ten.
    chain = [create(base, title="Generation 0", isTest=True)]
    for i in range(1, 12):
        chain.append(create(base, title=f"Generation {i}", parentVtid=chain[-1], isTest=True))
    page.goto(base + f"/#/vtid/{chain[-1]}")
    expect(page.locator("nav.crumbs a")).to_have_text(["Ledger"] + chain[1:11])
    expect(page.locator("nav.crumbs li.muted")).to_have_text("…")


def check_durations(page, base, data):
    """Durations read as durations: "1 min 10 s", not "Duration (s) 70.836"."""
    fake = {}

    def answer(route):
        res = route.fetch()
        body = res.json()
        body["data"]["durationSeconds"] = fake["seconds"]
        route.fulfill(response=res, json=body)

    path = f"/vtid/{data['build']}"
    page.route(lambda url: urlparse(url).path == path, answer)
    for seconds, words in [(70.836, "1 min 10 s"), (7500.2, "2 h 5 min"), (45, "45 s"), (0.25, "250 ms")]:
        fake["seconds"] = seconds
        page.goto(base + "/#/audit")
        page.goto(base + f"/#/vtid/{data['build']}")
        expect(page.locator(".record dt:text-is('Duration') + dd")).to_have_text(words)
    page.unroute_all()
    labels = page.locator(".record dt").all_inner_texts()
    assert "Duration (s)" not in labels, f"no raw seconds, labels {labels}"


def check_status_change(browser, base, errors, shot):
    """The record's page offers the lifecycle's next statuses and changes the status with
    If-Match; a change made meanwhile by another client is said so and reloaded."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="light")
    page = quiet_page(context, errors)
    moved = create(base, title="Moved from the page")
    page.goto(base + f"/#/vtid/{moved}")
    options = page.locator("form.move select option")
    expect(options).to_have_text(["active", "blocked", "cancelled"])
    page.select_option("form.move select", "active")
    page.click("form.move button[type=submit]")
    expect(page.locator(".note")).to_have_text("Moved to active: now version 2.")
    expect(page.locator("h1 .badge")).to_have_text("active")
    record = get(base, moved)
    assert (record["status"], record["version"]) == ("active", 2), \
        f"the API shows active at version 2, got {record['status']} at {record['version']}"
    expect(options).to_have_text(["blocked", "complete", "failed", "cancelled"])
    shot(page, "record-change.png")

    # Another client changes the record just before the page's PATCH arrives: 412.
    def meanwhile(route):
        if route.request.method == "PATCH":
            patch(base, moved, metadata={"touched": "elsewhere"})
        route.continue_()

    path = f"/vtid/{moved}"
    page.route(lambda url: urlparse(url).path == path, meanwhile)
    page.select_option("form.move select", "complete")
    page.click("form.move button[type=submit]")
    expect(page.locator(".note")).to_contain_text("changed meanwhile")
    expect(page.locator("form.move")).to_contain_text("as of version 3")
    page.unroute_all()
    record = get(base, moved)
    assert (record["status"], record["version"]) == ("active", 3), \
        f"the stale change was refused, got {record['status']} at {record['version']}"
    shot(page, "record-stale.png")
    page.select_option("form.move select", "complete")
    page.click("form.move button[type=submit]")
    expect(page.locator(".note")).to_have_text("Moved to complete: now version 4.")
    expect(page.locator(".move-box")).to_have_text("complete is final: the status cannot change any more.")
    assert get(base, moved)["status"] == "complete"
    context.close()


def check_phone(browser, base, data, shot):
    """At 390 px the ledger needs no sideways scrolling and each row shows its VTID, title
    and status; so does a record's page. In light and dark."""
    for scheme, suffix in [("light", ""), ("dark", "-dark")]:
        context = browser.new_context(viewport=PHONE, color_scheme=scheme)
        page = context.new_page()
        page.goto(base + "/")
        rows = page.locator("tbody tr")
        expect(rows.first).to_be_visible()
        expect(page.locator(".counts a b")).to_have_count(len(STATUSES))
        wide = page.evaluate("document.scrollingElement.scrollWidth")
        assert wide <= PHONE["width"] + 1, f"no sideways scrolling at 390 px, scroll width {wide}"
        for i in range(rows.count()):
            row = rows.nth(i)
            for part in ["td.c-vtid a", "td.c-title", "td.c-status .badge"]:
                el = row.locator(part)
                expect(el).to_be_visible()
                box = el.bounding_box()
                assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1, \
                    f"{part} of row {i} on screen at 390 px, box {box}"
        shot(page, f"ledger-phone{suffix}.png")
        page.goto(base + f"/#/vtid/{data['release']}")
        expect(page.locator("ol.timeline > li").first).to_be_visible()
        wide = page.evaluate("document.scrollingElement.scrollWidth")
        assert wide <= PHONE["width"] + 1, f"a record's page fits 390 px, scroll width {wide}"
        shot(page, f"record-phone{suffix}.png")
        if scheme == "dark":
            context.close()
            context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="dark")
            page = context.new_page()
            page.goto(base + f"/#/vtid/{data['canary']}")
            expect(page.locator("nav.crumbs a")).to_have_count(3)
            expect(page.locator("form.move")).to_be_visible()
            shot(page, "record-dark.png")
        context.close()


def check_unreachable(browser, base, errors, shot):
    """A ledger that cannot be reached is named, with the promise to retry (never "Failed
    to fetch"); the page recovers by itself when it answers again."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="light")
    page = quiet_page(context, errors)
    page.goto(base + "/")
    expect(page.locator("tbody tr").first).to_be_visible()
    down = page.locator("#down")
    expect(down).to_be_hidden()
    page.route("**/vtid/**", lambda route: route.abort("connectionrefused"))
    page.click("nav a[data-view=audit]")
    expect(down).to_be_visible()
    expect(down).to_contain_text(f"The ledger at {base} cannot be reached")
    expect(down).to_contain_text("tries again")
    expect(page.locator("main")).not_to_contain_text("Failed to fetch")
    shot(page, "unreachable.png")
    page.unroute_all()
    expect(down).to_be_hidden()
    expect(page.locator(".verdict")).to_contain_text("No missing or duplicate numbers")
    context.close()


def check_changes_behind_a_token(browser, base, token, errors, shot):
    """A caller the ledger refuses (403) is told why and no longer offered the change; a
    token the ledger does not accept (401) is said so too."""
    record = create(base, token, title="Not yours to change")
    viewer = hs256({"sub": "viewer", "tenant": "globex", "exp": int(time.time()) + 3600})
    context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="light")
    page = quiet_page(context, errors)
    page.goto(base + f"/#/vtid/{record}")
    page.fill("#token", viewer)
    page.click("button[type=submit]")
    expect(page.locator("h1 .badge")).to_have_text("pending")
    page.select_option("form.move select", "active")
    page.click("form.move button[type=submit]")
    expect(page.locator(".note")).to_contain_text("Not changed: the ledger refused this caller: ")
    expect(page.locator(".note")).to_contain_text("may not change")  # the ledger's own reason
    expect(page.locator(".move-box")).to_contain_text("Status changes are not offered")
    expect(page.locator("form.move")).to_have_count(0)
    shot(page, "record-refused.png")
    got = get(base, record, token)
    assert (got["status"], got["version"]) == ("pending", 1), f"unchanged, got {got['status']} v{got['version']}"
    # The admin's token, spoiled on its way by the PATCH only: 401, and why.
    page.click("#forget")
    page.fill("#token", token)
    page.click("button[type=submit]")
    expect(page.locator("form.move")).to_be_visible()

    def spoil(route):
        headers = dict(route.request.headers, authorization="Bearer not.a.token")
        route.continue_(headers=headers if route.request.method == "PATCH" else None)

    path = f"/vtid/{record}"
    page.route(lambda url: urlparse(url).path == path, spoil)
    page.select_option("form.move select", "active")
    page.click("form.move button[type=submit]")
    expect(page.locator(".note")).to_contain_text("the ledger did not accept the token")
    page.unroute_all()
    assert get(base, record, token)["version"] == 1, "a refused token changes nothing"
    context.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--shots", required=True)
    ap.add_argument("--token-url", help="a server that checks bearer tokens")
    ap.add_argument("--token", help="a token that server accepts")
    args = ap.parse_args()
    base = args.url.rstrip("/")
    os.makedirs(args.shots, exist_ok=True)
    shot = lambda page, name: page.screenshot(path=os.path.join(args.shots, name), full_page=True)
    data = seed(base)
    errors = []
    with sync_playwright() as p:
        # Playwright gives the browser a fresh profile (user data folder) of its own.
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="light")
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}")
                if m.type == "error" else None)

        # The ledger: every non-test record, newest first, with counts per status.
        page.goto(base + "/")
        rows = page.locator("tbody tr")
        expect(rows).to_have_count(data["visible"])
        first = rows.first.locator("td").first.inner_text()
        assert first == max(data["blocked"], key=lambda v: int(v.split("-")[2])), \
            f"newest first, got {first}"
        expect(page.locator(".counts a.s-blocked b")).to_have_text("2")
        expect(page.locator("#live")).to_have_text("live")
        shot(page, "ledger.png")

        # The keyboard reaches the filters; filter by status.
        page.keyboard.press("/")
        focused = page.evaluate("document.activeElement.id")
        assert focused == "first-filter", f"'/' should focus the first filter, focused {focused!r}"
        page.keyboard.press("Escape")
        page.select_option("select[name=status]", "blocked")
        page.click("form.filters button[type=submit]")
        page.wait_for_url("**/#/?status=blocked")
        expect(rows).to_have_count(2)
        statuses = rows.locator("td .badge").all_inner_texts()
        assert statuses == ["blocked", "blocked"], f"only blocked records, got {statuses}"
        shown = set(rows.locator("td:first-child").all_inner_texts())
        assert shown == data["blocked"], f"the blocked records, got {shown}"
        shot(page, "ledger-blocked.png")

        # One VTID: its record, its subtasks as a tree, its history as a timeline.
        page.goto(base + "/#/")
        page.click(f"tbody a:text-is('{data['release']}')")
        page.wait_for_url(f"**/#/vtid/{data['release']}")
        expect(page.locator("h1 .badge")).to_have_text("active")
        tree = page.locator("ul.tree")
        expect(tree.locator(f"a:text-is('{data['build']}')")).to_be_visible()
        nested = tree.locator(f"li:has(> a:text-is('{data['rollout']}')) ul a:text-is('{data['canary']}')")
        expect(nested).to_be_visible()
        expect(page.locator("ol.timeline > li")).to_have_count(data["release_history"])
        expect(page.locator("ol.timeline")).to_contain_text("changed v1 → v2")
        expect(page.locator("ol.timeline")).to_contain_text("release-managers")
        page.click("ol.timeline summary")
        expect(page.locator("ol.timeline details")).to_contain_text("The May release train")
        shot(page, "record.png")

        # The audit of the year.
        page.click("nav a[data-view=audit]")
        expect(page.locator(".verdict")).to_contain_text("No missing or duplicate numbers")
        shot(page, "audit.png")

        # Live: another client creates; the ledger shows it without a reload.
        page.click("nav a[data-view=ledger]")
        expect(rows).to_have_count(data["visible"])
        expect(page.locator("#live")).to_have_text("live")
        page.evaluate("window.__sameDocument = true")
        fresh = create(base, title="Hotfix 2026.5.1", taskFamily="hotfix", assignedTo="dave")
        expect(page.locator(f"tbody a:text-is('{fresh}')")).to_be_visible()
        expect(rows).to_have_count(data["visible"] + 1)
        assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
        shot(page, "live.png")

        # The same ledger in dark mode.
        dark = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="dark")
        dark_page = dark.new_page()
        dark_page.goto(base + "/")
        expect(dark_page.locator("tbody tr")).to_have_count(data["visible"] + 1)
        expect(dark_page.locator(".counts a.s-blocked b")).to_have_text("2")
        shot(dark_page, "ledger-dark.png")
        dark.close()

        check_counts_follow_live_changes(page, base)
        check_columns_and_sorting(page, base)
        check_filters_offer_known_values(page)
        check_search(page, base, data)
        check_ancestors(page, base, data)
        check_durations(page, base, data)
        check_status_change(browser, base, errors, shot)
        check_phone(browser, base, data, shot)
        check_unreachable(browser, base, errors, shot)

        if args.token_url:
            check_token_prompt(browser, args.token_url.rstrip("/"), args.token, shot)
            check_changes_behind_a_token(browser, args.token_url.rstrip("/"), args.token, errors, shot)
        browser.close()
    if errors:
        sys.exit("the page logged errors:\n" + "\n".join(errors))
    print(f"page checks passed; screenshots in {args.shots}")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        sys.exit(f"page check failed: {e}")
