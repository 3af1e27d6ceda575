"""The console's do-not-call and API-key pages in Chromium against the live stack: a DNC
import with a bad line (its line number shown, the good lines on the list through the
API), search, add, remove and export; a key created then revoked (the revoked key gets
401 from the API); axe-core on each page; screenshots at 1280 and 390 px."""

from __future__ import annotations

from pathlib import Path

import requests
from playwright.sync_api import Page, expect

from tests.browser.conftest import Account, Stack, _account
from tests.browser.test_console import assert_accessible, page, shot, sign_in

__all__ = ["page"]  # the console suite's page fixture (viewport, script errors fail the test)

DNC_FILE = """\
number
+12125550121
not-a-number
(212) 555-0122
# a comment
"""


def dnc_numbers(account: Account, q: str = "") -> list[str]:
    r = account.call("GET", f"/dnc?limit=500{'&q=' + q if q else ''}")
    assert r.status_code == 200, r.text
    return [i["number"] for i in r.json()["items"]]


def test_dnc_import_add_search_remove_and_export(
    page: Page, stack: Stack, screenshots: Path, tmp_path: Path
) -> None:
    acct = _account(stack, "dncpage", "DNC Page Co", active=True, seed=False)
    sign_in(page, stack, acct)
    page.get_by_role("link", name="Do-not-call list").click()
    expect(page.get_by_role("heading", name="Do-not-call list")).to_be_visible()
    expect(page.get_by_text("The list is empty.")).to_be_visible()
    assert_accessible(page, "dnc (empty)")

    page.get_by_label("Numbers (one a line, or separated by commas)").fill(
        "+12125550111, 212-555-0112"
    )
    page.get_by_role("button", name="Add to the list").click()
    expect(page.get_by_text("Added 2 numbers.")).to_be_visible()
    expect(page.locator("#dnc-table tbody tr")).to_have_count(2)

    upload = tmp_path / "dnc.csv"
    upload.write_text(DNC_FILE)
    page.get_by_label("File to import", exact=True).set_input_files(str(upload))
    page.get_by_role("button", name="Import", exact=True).click()
    report = page.get_by_test_id("dnc-import-report")
    expect(report).to_be_visible()
    expect(page.get_by_test_id("import-accepted")).to_have_text("2")
    expect(page.get_by_test_id("import-rejected")).to_have_text("1")
    expect(page.get_by_test_id("rejected-line")).to_have_text(["3"])
    expect(page.locator("#dnc-rejected")).to_contain_text("not-a-number")
    assert dnc_numbers(acct) == ["+12125550111", "+12125550112", "+12125550121", "+12125550122"]
    expect(page.locator("#dnc-table tbody tr")).to_have_count(4)
    assert_accessible(page, "dnc (after import)")
    shot(page, screenshots, "11-dnc-import", narrow=True)

    page.get_by_label("Search by number").fill("1 212 555 012")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#dnc-table tbody th")).to_have_text(["+12125550121", "+12125550122"])

    page.get_by_role("button", name="Remove +12125550121").click()
    expect(page.locator("#dnc-table tbody th")).to_have_text(["+12125550122"])
    assert "+12125550121" not in dnc_numbers(acct)

    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    exported = Path(download.value.path()).read_text()
    assert exported.splitlines()[0] == "number,added_at"
    assert "'+12125550122" in exported and "+12125550121" not in exported


def test_a_key_created_then_revoked_in_the_console(
    page: Page, stack: Stack, screenshots: Path
) -> None:
    acct = _account(stack, "keyspage", "Keys Page Co", active=True, seed=False)
    sign_in(page, stack, acct)
    page.get_by_role("link", name="API keys").click()
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    expect(page.locator("#keys-table tbody tr")).to_have_count(1)
    assert_accessible(page, "keys")

    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_text("Copy it now: it is shown only once.")).to_be_visible()
    new_key = page.locator("#new-key-value").input_value()
    assert new_key.startswith("cfk_")
    expect(page.locator("#keys-table tbody tr")).to_have_count(2)
    as_new = Account(acct.account_id, new_key, stack.base_url)
    assert as_new.call("GET", "/account").status_code == 200
    assert_accessible(page, "keys (new key shown)")
    shot(page, screenshots, "12-api-keys", narrow=True)

    key_id = new_key.split("_")[1]
    row = page.locator(f"#keys-table tr[data-key-id='{key_id}']")
    row.get_by_role("button", name="Revoke").click()
    row.get_by_role("button", name="Yes, revoke").click()
    expect(row.get_by_test_id("key-status")).to_contain_text("Revoked")
    r = requests.get(
        f"{stack.base_url}/v1/account",
        headers={"Authorization": f"Bearer {new_key}"},
        timeout=60,
    )
    assert r.status_code == 401, r.text
    assert acct.call("GET", "/account").status_code == 200  # the signed-in key still works
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
