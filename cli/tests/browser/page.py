"""The page of `vtid serve` in a real headless Chromium (Debian's), driven by Playwright.

Run by `cli/tests/web.rs` against a fresh server: seeds records through the JSON API,
then checks that the page lists them, filters by status, opens a VTID with its subtasks
and history, shows the audit, and shows a create made by another client without a
reload. Writes a screenshot of each view to --shots. Exits non-zero on the first
failure, saying what was expected.
"""

import argparse
import json
import os
import sys
import urllib.request

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
    shot(page, "token.png")
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

        if args.token_url:
            check_token_prompt(browser, args.token_url.rstrip("/"), args.token, shot)
        browser.close()
    if errors:
        sys.exit("the page logged errors:\n" + "\n".join(errors))
    print(f"page checks passed; screenshots in {args.shots}")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        sys.exit(f"page check failed: {e}")
