"""The console in a real browser (Debian's Chromium, driven by Playwright) against the app
over HTTP, its queue triggers, Azurite and the Snap sandbox.

* the seed flow by clicks, from an empty app to an audience in the sandbox holding exactly
  the hashes of the test's own people;
* a Viewer sees no write control, and the writes it forges against the API get 403;
* a cross-site form cannot make the browser's session write;
* keyboard only: a connection is added with Tab, Space and Enter; every control of the main
  pages is reachable, labelled, and shows where the focus is;
* a failing test leaves a screenshot and the page's HTML (``.artifacts/console/``).

``make screenshots`` runs the seed flow with ``CONSOLE_SCREENSHOTS=docs/img`` to refresh the
README's pictures.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from devtools.cdm_model import headerless_entity
from devtools.snap_sandbox import SnapSandbox
from shared import layout
from shared.config import Settings
from shared.models import UsableBy
from shared.services import Services
from tests.console_browser import (
    LiveConsole,
    launch_chromium,
    live_console,
    save_failure_artifacts,
    shoot,
    watch_errors,
)
from tests.entra_double import CLIENT_ID, EntraDouble
from tests.support import (
    CONTRIBUTOR,
    VIEWER,
    export_to_new_audience,
    exports_container,
    person,
    person_hashes,
    seed_connection,
    seed_export,
    services_with,
    sha,
    write_ci_export,
)

#: Seconds a run may take end to end in these tests (the machine may be busy).
RUN_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def console(settings: Settings, sandbox: SnapSandbox, services: Services) -> Iterator[LiveConsole]:
    with live_console(settings, sandbox) as live:
        yield live


def _page(browser: Browser, request: pytest.FixtureRequest, **context: Any) -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, **context)
    ctx.set_default_timeout(20_000)
    page = ctx.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            written = save_failure_artifacts(page, request.node.nodeid)
            print(f"console test failed; saved {', '.join(map(str, written))}", file=sys.stderr)
        ctx.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page of a fresh browser context (no identity: the app's LOCAL_DEV_ROLES user)."""
    yield from _page(browser, request)


@pytest.fixture
def viewer_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page whose every request carries a Viewer's principal header (local mode)."""
    yield from _page(browser, request, extra_http_headers=VIEWER)


PEOPLE = range(30)
COLUMNS = ("CustomerId", "Email", "Phone", "MobileAdId")


def _write_export(services: Services, people: range, folder: str) -> None:
    rows = [person(i) for i in people]
    lapsed = headerless_entity("Lapsed", COLUMNS, ["https://x.invalid/c/Lapsed_1.csv"])
    write_ci_export(
        exports_container(services),
        "HighValue",
        [rows[: len(rows) // 2], rows[len(rows) // 2 :]],
        columns=COLUMNS,
        folder=folder,
        extra_entities=[lapsed],
    )


def _wait_for_run(page: Page, status: str = "Succeeded") -> None:
    expect(page.locator(".run-status")).to_contain_text(status, timeout=RUN_TIMEOUT_MS)


# -- the seed flow --------------------------------------------------------------------------


def test_the_seed_flow_by_clicks_fills_the_snapchat_audience(
    console: LiveConsole, page: Page, sandbox: SnapSandbox, ad_account_id: str
) -> None:
    errors = watch_errors(page)
    _write_export(console.services, PEOPLE, "2026/11/28/0300")
    audience = sandbox.create_segment(ad_account_id=ad_account_id, name="CI High value")
    page.goto(console.page_url("/api/console"))
    expect(page.get_by_role("heading", name="Exports", level=1)).to_be_visible()
    expect(page.get_by_text("No export yet.")).to_be_visible()

    # Admin > Connections > Add connection.
    page.get_by_role("navigation").get_by_role("link", name="Connections").click()
    page.get_by_role("link", name="Add connection").first.click()
    page.get_by_label("Display name").fill("Snapchat (marketing)")
    page.get_by_label("Administrators and contributors").check()
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_text("Select I agree to connect")).to_be_visible()  # consent is required
    page.get_by_label("I agree").check()
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("heading", name="Snapchat (marketing)", level=1)).to_be_visible()
    page.get_by_role("link", name="Authenticate with Snapchat").click()  # the sandbox consents
    expect(page.get_by_text("Authenticated with Snapchat", exact=True)).to_be_visible()
    expect(page.get_by_text("Signed in as Snapchat user sandbox-admin")).to_be_visible()
    page.get_by_role("button", name="Add yourself as export user").click()
    expect(page.get_by_text("You are the export user")).to_be_visible()
    shoot(page, "console-connection")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("It is ready: exports can use it.")).to_be_visible()
    expect(page.get_by_role("cell", name="Ready")).to_be_visible()

    # Data > Exports > Add export: everything picked from lists.
    page.get_by_role("navigation").get_by_role("link", name="Exports").click()
    page.get_by_role("link", name="Add export").click()
    expect(page.get_by_label("Connection for export")).to_have_value(
        next(iter(_connections(console)))
    )
    page.get_by_label("Display name").fill("High value customers to Snapchat")
    expect(page.get_by_label("Ad account")).to_have_value(ad_account_id)
    audience_select = page.get_by_label("Audience", exact=True)
    expect(audience_select.locator(f'option[value="{audience}"]')).to_have_count(1)
    audience_select.select_option(audience)
    page.get_by_label("HighValue").check()
    page.get_by_label("Email", exact=True).select_option("Email")
    page.get_by_label("Phone (optional)").select_option("Phone")
    shoot(page, "console-add-export")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saving does not run it")).to_be_visible()
    assert not list(console.services.state.names(layout.RUNS_PREFIX))  # saving did not run it

    # Run now, and watch the run page reach succeeded.
    page.get_by_role("button", name="Run now").click()
    page.wait_for_url("**/api/console/runs/**")
    _wait_for_run(page)
    expect(page.locator(".card", has_text="Rows read")).to_contain_text("30")
    expected = person_hashes(PEOPLE)
    expected["MOBILE_AD_ID_SHA256"] = set()  # not mapped
    assert sandbox.members(audience) == expected

    # A second export of the segment: 10 people left, 5 joined; the audience follows.
    _write_export(console.services, range(10, 35), "2026/11/29/0300")
    first_run = page.url
    page.get_by_role("button", name="Run now").click()
    page.wait_for_url(lambda url: "/api/console/runs/" in url and url != first_run)
    _wait_for_run(page)
    expected = person_hashes(range(10, 35))
    expected["MOBILE_AD_ID_SHA256"] = set()
    assert sandbox.members(audience) == expected
    expect(page.get_by_role("row", name="Email 25 5 10")).to_be_visible()
    shoot(page, "console-run")
    page.get_by_role("link", name="Open the export").click()
    expect(page.locator(".chart circle.size-dot")).to_have_count(2)
    expect(page.get_by_role("img", name="Audience size over time")).to_be_visible()
    shoot(page, "console-export")
    assert errors == []


def test_the_connection_steps_in_either_order_say_what_is_left(
    console: LiveConsole, page: Page
) -> None:
    # "Add yourself as export user" before signing in said "The connection is ready", beside a
    # badge saying it needs authentication.
    page.goto(console.page_url("/api/console/connections/new"))
    page.get_by_label("Display name").fill("Export user first")
    page.get_by_label("I agree").check()
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("heading", name="Export user first", level=1)).to_be_visible()
    page.get_by_role("button", name="Add yourself as export user").click()
    expect(page.get_by_text("You are the export user")).to_be_visible()
    expect(page.get_by_text("Next: authenticate with Snapchat")).to_be_visible()
    expect(page.get_by_text("The connection is ready")).to_have_count(0)
    page.get_by_role("link", name="Authenticate with Snapchat").click()
    expect(page.get_by_text("Authenticated with Snapchat", exact=True)).to_be_visible()
    expect(page.get_by_text("The connection is ready: exports can use it now.")).to_be_visible()
    expect(page.get_by_text("Next: add yourself as export user")).to_have_count(0)


def test_table_cells_break_words_only_when_one_is_wider_than_the_page(
    console: LiveConsole, page: Page, sandbox: SnapSandbox
) -> None:
    # overflow-wrap: anywhere let a squeezed column break "Snapchat" into "Snapcha t"; a
    # display name of 256 letters without a space must still not widen the page.
    seed_connection(console.services, sandbox)
    long = seed_connection(console.services, sandbox)
    console.services.state.update(
        layout.connection(long), lambda c: {**c, "display_name": "N" * 256}
    )
    page.set_viewport_size({"width": 1024, "height": 800})
    page.goto(console.page_url("/api/console/connections"))
    cells = page.get_by_role("cell", name="Snapchat", exact=True)
    expect(cells).to_have_count(2)
    for i in range(2):
        lines = cells.nth(i).evaluate(
            "cell => { const r = document.createRange(); r.selectNodeContents(cell);"
            " return new Set([...r.getClientRects()].map(b => Math.round(b.top))).size; }"
        )
        assert lines == 1, f"'Snapchat' is broken over {lines} lines"
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow} px wider than the window"


def test_run_all_scheduled_links_each_run_it_started(
    console: LiveConsole, page: Page, sandbox: SnapSandbox, ad_account_id: str
) -> None:
    _write_export(console.services, range(4), "2026/11/28/0300")
    export_to_new_audience(console.services, sandbox, ad_account_id, "Run all")
    page.goto(console.page_url("/api/console/exports"))
    page.get_by_role("button", name="Run all scheduled").click()
    expect(page.get_by_text("1 run started")).to_be_visible()
    page.locator(".message").get_by_role("link", name="Test export").click()
    page.wait_for_url(lambda url: "/api/console/runs/" in url)
    _wait_for_run(page)


def test_changing_the_container_clears_what_was_read_from_the_last_one(
    console: LiveConsole, page: Page, sandbox: SnapSandbox
) -> None:
    seed_connection(console.services, sandbox)
    prefix = console.services.settings.get("EXPORTS_PREFIX")
    exports_container(console.services).upload_blob(f"{prefix}/model.json", b"{not json")
    page.goto(console.page_url("/api/console/exports/new"))
    stale = page.get_by_text("The segments could not be read")
    expect(stale).to_be_visible()
    container = page.get_by_label("Container")
    container.fill("nosuch")
    container.dispatch_event("change")
    expect(page.get_by_text("The export folders could not be listed")).to_be_visible()
    expect(stale).to_have_count(0)


def test_a_refused_save_puts_focus_on_what_to_fix(
    console: LiveConsole, page: Page, sandbox: SnapSandbox, ad_account_id: str
) -> None:
    # Focus fell back to <body> after the server refused a save.
    page.goto(console.page_url("/api/console/connections/new"))
    name = page.get_by_label("Display name")
    name.fill("Snap\u202eEU")  # a bidirectional override: refused by the server, not the page
    page.get_by_label("I agree").check()
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_text("Check the highlighted field")).to_be_visible()
    expect(name).to_be_focused()
    # An audience another mirror export feeds: the Audience field is highlighted and focused.
    _write_export(console.services, range(4), "2026/11/28/0300")
    _, audience = export_to_new_audience(console.services, sandbox, ad_account_id, "Taken")
    page.goto(console.page_url("/api/console/exports/new"))
    page.get_by_label("Display name").fill("Second feeder")
    page.get_by_label("Audience", exact=True).select_option(audience)
    page.get_by_label("HighValue").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("is already fed by export 'Test export'").first).to_be_visible()
    expect(page.get_by_label("Audience", exact=True)).to_be_focused()


def test_a_retention_that_is_not_a_whole_number_is_refused_not_rounded(
    console: LiveConsole, page: Page, sandbox: SnapSandbox
) -> None:
    _write_export(console.services, PEOPLE, "2026/11/28/0300")
    seed_connection(console.services, sandbox)
    page.goto(console.page_url("/api/console/exports/new"))
    page.get_by_label("Display name").fill("Retention check")
    page.get_by_label("Create a new audience").check()
    page.get_by_label("Audience name").fill("New audience")
    page.get_by_label("Retention in days").fill("1.5")
    page.get_by_label("HighValue").check()
    page.get_by_label("Email", exact=True).select_option("Email")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".field-error", has_text="A whole number of days")).to_be_visible()
    assert not list(console.services.state.names("exports/"))  # nothing saved


def test_editing_the_segments_keeps_the_fields_chosen_for_data_matching(
    console: LiveConsole, page: Page, sandbox: SnapSandbox, ad_account_id: str
) -> None:
    # Unticking the last segment emptied the field lists, and ticking one again "kept" the
    # emptied values: Save sent no phone and no mobile ad id, and the next run wanted to remove
    # every phone and device from the audience.
    services = console.services
    rows = [person(i) for i in range(4)]
    email_only = headerless_entity(
        "EmailOnly", ("CustomerId", "Email"), ["https://x.invalid/e.csv"]
    )
    lapsed = headerless_entity("Lapsed", COLUMNS, ["https://x.invalid/c/Lapsed_1.csv"])
    write_ci_export(
        exports_container(services), "HighValue", [rows], extra_entities=[lapsed, email_only]
    )
    export_id, _ = export_to_new_audience(services, sandbox, ad_account_id, "Keep fields")

    def saved() -> dict[str, Any]:
        return dict(services.state.get(layout.export(export_id))["data_matching"])

    page.goto(console.page_url(f"/api/console/exports/{export_id}/edit"))
    phone = page.get_by_label("Phone (optional)")
    device = page.get_by_label("Mobile ad id (optional)")
    expect(phone).to_have_value("Phone")
    page.get_by_label("HighValue").uncheck()
    expect(phone).to_have_value("")  # no segment: no fields to show
    page.get_by_label("Lapsed").check()
    expect(phone).to_have_value("Phone")
    expect(device).to_have_value("MobileAdId")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(console.page_url(f"/api/console/exports/{export_id}"))
    after = services.state.get(layout.export(export_id))
    assert after["segments"] == ["Lapsed"]
    assert saved() == {"email": "Email", "phone": "Phone", "mobile_ad_id": "MobileAdId"}

    # A segment without the chosen fields: Save says so instead of dropping them.
    page.goto(console.page_url(f"/api/console/exports/{export_id}/edit"))
    page.get_by_label("Lapsed").uncheck()
    page.get_by_label("EmailOnly").check()
    page.get_by_role("button", name="Save").click()
    expect(
        page.locator(".field-error", has_text="Phone is not a field of the chosen segments")
    ).to_be_visible()
    expect(page.locator(".field-error", has_text="MobileAdId is not a field")).to_be_visible()
    assert services.state.get(layout.export(export_id))["segments"] == ["Lapsed"]
    phone.select_option("")  # None: the user stops matching phones on purpose
    device.select_option("")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(console.page_url(f"/api/console/exports/{export_id}"))
    assert saved() == {"email": "Email", "phone": None, "mobile_ad_id": None}


def _connections(console: LiveConsole) -> list[str]:
    return [
        layout.step_item(name) for name in console.services.state.names(layout.CONNECTIONS_PREFIX)
    ]


def test_mass_removal_is_shown_with_its_numbers_and_allowed_from_the_run_page(
    console: LiveConsole, page: Page, sandbox: SnapSandbox, ad_account_id: str
) -> None:
    _write_export(console.services, range(30), "2026/11/28/0300")
    export_id, audience = export_to_new_audience(
        console.services, sandbox, ad_account_id, "Mass removal", mobile_ad_id=None
    )
    page.goto(console.page_url(f"/api/console/exports/{export_id}"))
    page.get_by_role("button", name="Run now").click()
    _wait_for_run(page)
    first = page.url
    _write_export(console.services, range(5), "2026/11/29/0300")  # 25 of 30 people gone
    page.get_by_role("button", name="Run now").click()
    page.wait_for_url(lambda url: "/api/console/runs/" in url and url != first)
    _wait_for_run(page, "Failed")
    expect(page.get_by_text("Stopped before removing many people")).to_be_visible()
    numbers = page.get_by_role("table", name="What the run would have removed")
    expect(numbers.get_by_role("row", name="Email 30 25 0")).to_be_visible()
    expect(numbers.get_by_role("row", name="Phone 30 25 0")).to_be_visible()
    assert len(sandbox.members(audience)["EMAIL_SHA256"]) == 30  # nothing was sent
    # Its counts are what it would have sent, never "Added" / "Removed".
    labels = page.locator(".card .label")
    expect(labels.filter(has_text="To remove")).to_have_count(1)
    expect(labels.filter(has_text="Removed")).to_have_count(0)
    expect(page.get_by_role("columnheader", name="To remove")).to_be_visible()
    blocked = page.url
    page.get_by_role("button", name="Allow mass removal and run again").click()
    dialog = page.get_by_role("dialog", name="Allow mass removal")
    expect(dialog.get_by_role("row", name="Email 30 25 0")).to_be_visible()
    # A destructive action starts on Cancel: Enter twice must not remove people.
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    dialog.get_by_role("button", name="Run allowing mass removal").click()
    page.wait_for_url(lambda url: "/api/console/runs/" in url and url != blocked)
    _wait_for_run(page)
    expect(page.get_by_text("Mass removal allowed")).to_be_visible()
    expect(page.locator(".card .label").filter(has_text="Removed")).to_have_count(1)
    page.goto(console.page_url(f"/api/console/exports/{export_id}"))
    history = page.get_by_role("table", name="Runs, newest first")
    expect(history.get_by_role("row").filter(has_text="Failed")).to_contain_text("not sent")
    expect(history.get_by_role("row").filter(has_text="Succeeded").first).not_to_contain_text(
        "not sent"
    )
    expected = person_hashes(range(5))
    expected["MOBILE_AD_ID_SHA256"] = set()
    assert sandbox.members(audience) == expected


# -- roles ----------------------------------------------------------------------------------


def test_a_contributor_gets_commands_only_for_exports_of_shared_connections(
    console: LiveConsole, browser: Browser, request: pytest.FixtureRequest, sandbox: SnapSandbox
) -> None:
    # Run now, Edit and Delete were offered on an admin-only connection's export, and each
    # failed with "usable by administrators only".
    services = console.services
    admins_only = seed_export(services, seed_connection(services, sandbox), "123")
    shared = seed_export(
        services,
        seed_connection(services, sandbox, usable_by=UsableBy.ADMINS_AND_CONTRIBUTORS),
        "456",
    )
    for page in _page(browser, request, extra_http_headers=CONTRIBUTOR):
        page.goto(console.page_url(f"/api/console/exports/{admins_only}"))
        expect(page.get_by_text("Only administrators can run or change")).to_be_visible()
        toolbar = page.get_by_role("toolbar", name="Export actions")
        for name in ("Run now", "Dry run", "Edit", "Delete"):
            expect(toolbar.get_by_text(name, exact=True)).to_have_count(0)
        page.goto(console.page_url(f"/api/console/exports/{shared}"))
        expect(page.get_by_role("button", name="Run now")).to_be_visible()
        expect(page.get_by_role("link", name="Edit")).to_be_visible()
        expect(page.get_by_text("Only administrators can run")).to_have_count(0)


WRITE_CONTROLS = ("Add export", "Run all", "Run now", "Dry run", "Full refresh…", "Edit", "Delete")


def test_a_viewer_sees_no_write_control_and_forged_writes_are_refused(
    console: LiveConsole, viewer_page: Page, sandbox: SnapSandbox, ad_account_id: str
) -> None:
    page = viewer_page
    _write_export(console.services, range(5), "2026/11/28/0300")
    connection_id = seed_connection(console.services, sandbox)
    audience = sandbox.create_segment(ad_account_id=ad_account_id, name="Viewer test")
    export_id = seed_export(console.services, connection_id, audience, mobile_ad_id=None)
    page.goto(console.page_url("/api/console/exports"))
    expect(page.locator("#who")).to_contain_text("Vi Viewer")
    expect(page.locator("#who")).to_contain_text("Viewer")
    expect(page.get_by_role("link", name="Test export")).to_be_visible()
    nav = page.get_by_role("navigation")
    expect(nav.get_by_role("link", name="Connections")).to_be_hidden()
    expect(nav.get_by_role("link", name="Erasure")).to_be_hidden()
    for name in WRITE_CONTROLS:
        expect(page.get_by_role("button", name=name)).to_have_count(0)
        expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
    page.get_by_role("link", name="Test export").click()
    expect(page.get_by_role("heading", name="Test export", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Run history")).to_be_visible()
    for name in WRITE_CONTROLS:
        expect(page.get_by_role("button", name=name)).to_have_count(0)
        expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
    # The pages an address bar reaches say no, too.
    page.goto(console.page_url("/api/console/exports/new"))
    expect(page.get_by_text("Viewers cannot add or change exports")).to_be_visible()
    page.goto(console.page_url("/api/console/erasure"))
    expect(page.get_by_text("Only administrators erase people")).to_be_visible()

    forged = page.evaluate(
        """async ([exportId, connectionId]) => {
            const headers = {
              "X-Requested-With": "XMLHttpRequest", "Content-Type": "application/json",
            };
            const calls = [
              ["POST", `/api/exports/${exportId}/runs`, {}],
              ["PATCH", `/api/exports/${exportId}`, {display_name: "Mine now"}],
              ["DELETE", `/api/exports/${exportId}`, null],
              ["POST", "/api/connections", {display_name: "x", privacy_consent: true}],
              ["POST", `/api/connections/${connectionId}/export-user`, {}],
              ["POST", "/api/erasures", {email: "someone@example.com"}],
            ];
            const out = [];
            for (const [method, path, body] of calls) {
              const init = {method, headers, body: body && JSON.stringify(body)};
              const answer = await fetch(path, init);
              out.push([method, path, answer.status, (await answer.json()).error.code]);
            }
            return out;
        }""",
        [export_id, connection_id],
    )
    assert [(status, code) for *_, status, code in forged] == [(403, "forbidden")] * 6, forged
    assert list(console.services.state.names(layout.RUNS_PREFIX)) == []
    assert console.services.state.get(layout.export(export_id))["display_name"] == "Test export"
    assert len(list(console.services.state.names(layout.CONNECTIONS_PREFIX))) == 1


def test_a_cross_site_form_cannot_make_the_session_write(
    console: LiveConsole, page: Page, sandbox: SnapSandbox, ad_account_id: str
) -> None:
    _write_export(console.services, range(5), "2026/11/28/0300")
    export_id, _ = export_to_new_audience(
        console.services, sandbox, ad_account_id, "CSRF test", mobile_ad_id=None
    )
    # Another origin's page (about:blank here) posting a form to the app, as an attacker's
    # site would: the browser sends it, with the session (locally: the LOCAL_DEV_ROLES admin).
    page.set_content(
        f'<form method="post" action="{console.url}/api/exports/{export_id}/runs">'
        '<button type="submit">Win a prize</button></form>'
    )
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Win a prize").click()
    answer = navigation.value
    assert answer is not None and answer.status == 403
    assert "requested_with_missing" in page.content()
    assert list(console.services.state.names(layout.RUNS_PREFIX)) == []
    # The console itself writes: its requests carry X-Requested-With.
    page.goto(console.page_url(f"/api/console/exports/{export_id}"))
    page.get_by_role("button", name="Run now").click()
    page.wait_for_url("**/api/console/runs/**")
    _wait_for_run(page)


def test_erasure_answers_by_hash_and_leaves_no_raw_value_in_the_page(
    console: LiveConsole, page: Page, sandbox: SnapSandbox, ad_account_id: str
) -> None:
    _write_export(console.services, range(3), "2026/11/28/0300")
    _, audience = export_to_new_audience(
        console.services, sandbox, ad_account_id, "Erasure", mobile_ad_id=None
    )
    sandbox.add_members(audience, [sha("person1@example.com")])
    page.goto(console.page_url("/api/console/erasure"))
    page.get_by_label("Email").fill("  Person1@Example.com ")
    page.get_by_label("Phone").fill("+1 201 555 0001")
    page.get_by_role("button", name="Erase").click()
    expect(page.get_by_text("Erasure recorded")).to_be_visible()
    hashes = page.get_by_role("table", name="Hashes erased")
    expect(hashes.get_by_role("row", name=f"Email {sha('person1@example.com')}")).to_be_visible()
    expect(hashes.get_by_role("row", name=f"Phone {sha('12015550001')}")).to_be_visible()
    expect(page.get_by_label("Email")).to_have_value("")
    html = page.content().lower()
    assert "person1@example.com" not in html and "555 0001" not in html
    assert sandbox.members(audience)["EMAIL_SHA256"] == set()


def test_in_azure_mode_the_session_writes_and_an_ended_session_says_so(
    settings: Settings,
    sandbox: SnapSandbox,
    services: Services,
    browser: Browser,
    request: pytest.FixtureRequest,
) -> None:
    with (
        EntraDouble() as entra,
        live_console(settings, sandbox, LOCAL_DEV_ROLES="", **entra.settings()) as console,
    ):
        session = {"X-MS-TOKEN-AAD-ID-TOKEN": entra.token("Admin", audience=CLIENT_ID)}
        for page in _page(browser, request, extra_http_headers=session):
            page.goto(console.page_url("/api/console/connections/new"))
            expect(page.locator("#who")).to_contain_text("Erin Entra")
            expect(page.locator("#who")).not_to_contain_text("local")
            page.get_by_label("Display name").fill("Snapchat")
            page.get_by_label("I agree").check()
            page.get_by_role("button", name="Connect").click()
            expect(page.get_by_role("heading", name="Snapchat", level=1)).to_be_visible()
            here = page.url.removeprefix(console.url)
            # The session's token no longer verifies (as when it has expired).
            services_with(
                settings,
                PUBLIC_BASE_URL=console.url,
                ENTRA_CLIENT_ID="someone-else",
                **{k: v for k, v in entra.settings().items() if k != "ENTRA_CLIENT_ID"},
            )
            page.get_by_role("button", name="Add yourself as export user").click()
            expect(page.get_by_text("Your session has ended")).to_be_visible()
            login = page.get_by_role("link", name="Sign in again")
            expect(login).to_have_attribute(
                "href", "/.auth/login/aad?post_login_redirect_uri=" + quote(here, safe="")
            )


# -- keyboard and labels --------------------------------------------------------------------

UNLABELLED = """() => {
  const named = (el) => {
    if (el.getAttribute("aria-label") || el.getAttribute("aria-labelledby")) return true;
    const labels = [...(el.labels || [])];
    if (labels.some((label) => label.textContent.trim())) return true;
    if (["BUTTON", "A", "SUMMARY"].includes(el.tagName)) return el.textContent.trim().length > 0;
    return false;
  };
  const visible = (el) =>
    el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const selector = "input, select, textarea, button, a[href], summary";
  const controls = [...document.querySelectorAll(selector)];
  return controls.filter((el) => visible(el) && !named(el)).map((el) => el.outerHTML.slice(0, 120));
}"""

FOCUS_RING = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return true;  // Tab went past the last control
  const style = getComputedStyle(el);
  return style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
}"""


def _tab_until(page: Page, predicate: str, limit: int = 60) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(predicate):
            assert page.evaluate(FOCUS_RING), page.evaluate("document.activeElement.outerHTML")
            return
    raise AssertionError(f"not reached with Tab: {predicate}")


def test_a_connection_is_added_with_the_keyboard_only(console: LiveConsole, page: Page) -> None:
    page.goto(console.page_url("/api/console/connections"))
    _tab_until(page, "document.activeElement.textContent === 'Add connection'")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Add connection", level=1)).to_be_visible()
    expect(page.get_by_label("Display name")).to_be_focused()
    page.keyboard.type("Keyboard connection")
    _tab_until(page, "document.activeElement.name === 'usable_by'")
    page.keyboard.press("ArrowDown")  # radios: the arrow keys choose
    expect(page.get_by_label("Administrators and contributors")).to_be_checked()
    _tab_until(page, "document.activeElement.id === 'privacy-agree'")
    page.keyboard.press("Space")
    _tab_until(page, "document.activeElement.textContent === 'Connect'")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Keyboard connection", level=1)).to_be_visible()
    _tab_until(page, "document.activeElement.textContent === 'Authenticate with Snapchat'")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Authenticated with Snapchat", exact=True)).to_be_visible()
    _tab_until(page, "document.activeElement.textContent === 'Add yourself as export user'")
    page.keyboard.press("Enter")
    expect(page.get_by_text("You are the export user")).to_be_visible()
    _tab_until(page, "document.activeElement.textContent === 'Save'")
    page.keyboard.press("Enter")
    expect(page.get_by_text("It is ready: exports can use it.")).to_be_visible()
    (connection,) = [
        console.services.state.get(name)
        for name in console.services.state.names(layout.CONNECTIONS_PREFIX)
    ]
    assert connection["usable_by"] == "admins_and_contributors"
    assert connection["export_user"]["id"] == "local-developer"


def test_every_control_of_the_main_pages_is_labelled_and_reachable(
    console: LiveConsole, page: Page, sandbox: SnapSandbox, ad_account_id: str
) -> None:
    _write_export(console.services, range(5), "2026/11/28/0300")
    connection_id = seed_connection(console.services, sandbox)
    audience = sandbox.create_segment(ad_account_id=ad_account_id, name="Labels")
    export_id = seed_export(console.services, connection_id, audience, mobile_ad_id=None)
    pages = {
        "/api/console/exports": "Exports",
        "/api/console/connections": "Connections",
        "/api/console/connections/new": "Add connection",
        f"/api/console/connections/{connection_id}": "Test connection",
        "/api/console/exports/new": "Add export",
        f"/api/console/exports/{export_id}": "Test export",
        f"/api/console/exports/{export_id}/edit": "Edit Test export",
        "/api/console/erasure": "Erasure",
    }
    for path, heading in pages.items():
        page.goto(console.page_url(path))
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert page.locator("h1").count() == 1, path
        assert page.evaluate(UNLABELLED) == [], path
        # Every visible control is reached with Tab, each showing the focus ring.
        wanted = page.evaluate(
            """() => [...document.querySelector("main").querySelectorAll(
                  "input, select, button, a[href], textarea")]
                .filter((el) => el.getClientRects().length && !el.disabled)
                .map((el) => el.outerHTML.slice(0, 80))"""
        )
        reached: set[str] = set()
        page.locator("body").focus()
        for _ in range(len(wanted) * 2 + 20):
            page.keyboard.press("Tab")
            reached.add(page.evaluate("document.activeElement.outerHTML.slice(0, 80)"))
            assert page.evaluate(FOCUS_RING), (path, reached)
        # A radio group takes one Tab stop (its checked radio): count groups, not radios.
        missing = [w for w in wanted if w not in reached and 'type="radio"' not in w]
        assert missing == [], (path, missing)


def test_a_failing_test_leaves_a_screenshot_and_the_html(page: Page, tmp_path: Path) -> None:
    page.set_content("<h1>Broken page</h1><p>What the test saw</p>")
    written = save_failure_artifacts(page, "tests/test_x.py::test_y[a/b]", tmp_path)
    assert [p.name for p in written] == [
        "tests_test_x.py_test_y_a_b_.png",
        "tests_test_x.py_test_y_a_b_.html",
    ]
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "What the test saw" in written[1].read_text()
