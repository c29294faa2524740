"""The labeling app in a real headless browser: Debian's Chromium driven by Playwright (never a download).

A reviewer logs in, judges three items with the keyboard only (one answer holds ``<script>`` and
``<img onerror>``, which must show as text), then an admin checks progress and downloads the export.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from label_server import running_server

from posttrain.feedback.records import Answer
from posttrain.feedback.store import FeedbackStore, NewItem, export_jsonl

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
HOSTILE = '<script>window.pwned = 1; alert("script ran")</script> <img src=x onerror="window.pwned = 2; alert(1)">'


@pytest.mark.skipif(not CHROMIUM.exists(),
                    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
def test_reviewer_judges_with_the_keyboard_and_admin_exports(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="needs the playwright package (pip install playwright)")
    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    store = FeedbackStore(url)
    store.create_campaign("c1", judgements_per_item=1, seed=11)
    store.add_items("c1", [NewItem([{"role": "user", "content": prompt}], [Answer(text=first, source="a"),
                                                                          Answer(text=second, source="b")])
                           for prompt, first, second in [("Say hi", HOSTILE, "Hi!"), ("2 + 2?", "**4**", "4"),
                                                         ("Capital of France?", "Lyon", "Nice")]])
    store.add_reviewer("ana", "ana-password")
    store.add_reviewer("boss", "boss-password", admin=True)
    problems, dialogs = [], []
    with running_server(url) as base, sync_api.sync_playwright() as playwright:  # Secure cookies: loopback is trusted
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(accept_downloads=True, viewport={"width": 1300, "height": 900})
            page = context.new_page()
            page.on("console", lambda message: message.type == "error" and problems.append(message.text))
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

            page.goto(f"{base}/c/c1/next")
            assert page.url == f"{base}/login"
            page.fill("#name", "ana")
            page.fill("#password", "ana-password")
            page.press("#password", "Enter")
            page.wait_for_url(f"{base}/")
            page.click("text=Start")

            # Item 1: the hostile answer is shown as text, and nothing of it ran.
            page.wait_for_url(f"{base}/c/c1/items/c1-1")
            texts = page.locator(".answer-text").all_inner_texts()
            assert any('<script>window.pwned = 1; alert("script ran")</script>' in text for text in texts)
            assert any('<img src=x onerror="window.pwned = 2; alert(1)">' in text for text in texts)
            assert page.locator(".answer-text script, .answer-text img").count() == 0
            assert page.evaluate("window.pwned === undefined")
            page.keyboard.press("2")  # the second answer as shown
            assert page.locator("#answer-2").get_attribute("class") == "answer chosen"
            page.keyboard.press("h")
            page.keyboard.press("Enter")

            page.wait_for_url(f"{base}/c/c1/items/c1-2")
            assert page.locator("#done-count").inner_text() == "1"
            page.keyboard.press("t")
            page.keyboard.press("Enter")

            page.wait_for_url(f"{base}/c/c1/items/c1-3")
            page.keyboard.press("1")
            page.keyboard.press("w")
            page.keyboard.type("Paris.")
            page.keyboard.press("Control+Enter")
            page.wait_for_selector("#done-message")
            assert page.locator("#done-message").inner_text() == "You judged 3 items here. Thank you!"

            shown = {item_id: [answer.position for answer in store.item_for("c1", item_id, "ana").answers]
                     for item_id in ("c1-1", "c1-3")}
            records = {record.item_id: record for record in store.export_records()}
            assert (records["c1-1"].preferred, records["c1-1"].harmful) == (shown["c1-1"][1], True)
            assert (records["c1-2"].preferred, records["c1-2"].harmful) == (None, False)
            assert (records["c1-3"].preferred, records["c1-3"].better_answer) == (shown["c1-3"][0], "Paris.")
            assert all(record.seconds is not None and record.seconds >= 0 for record in records.values())

            page.click("text=Log out")
            page.wait_for_url(f"{base}/login")
            page.fill("#name", "boss")
            page.fill("#password", "boss-password")
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/")
            page.click("text=Admin")
            assert "3 of 3 items complete" in page.locator("#campaign-c1 .summary").inner_text()
            with page.expect_download() as download_info:
                page.click("#export-c1-preference")
            download = download_info.value
            assert download.suggested_filename == "c1-preference.jsonl"
            exported = Path(download.path()).read_text()
        finally:
            browser.close()
    assert problems == [] and dialogs == []  # no errors (CSP included), and no injected alert() ran
    # c1-1 is flagged harmful and c1-2 a tie: only the written answer of c1-3 gives pairs (over both answers).
    rows = [json.loads(line) for line in exported.splitlines()]
    assert [(row["source_id"], row["chosen"]) for row in rows] == [("c1-3:ana", "Paris."), ("c1-3:ana", "Paris.")]
    assert sorted(row["rejected"] for row in rows) == ["Lyon", "Nice"]
    assert exported == export_jsonl(store.export_records(campaign="c1"), "preference")
