"""The labeling app in-process (Starlette's test client): login, CSRF, judging, errors, escaping, admin."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from posttrain.feedback.records import Answer
from posttrain.feedback.store import FeedbackStore, LoginBackoff, NewItem, NewJudgement, export_jsonl
from posttrain.label.app import LoginPolicy, create_app, render_markdown

HOSTILE = 'Look: <script>alert("x")</script> and <img src=x onerror="alert(1)"> [click](javascript:alert(2)) ![t](http://evil/t.png)'


@pytest.fixture
def store(tmp_path):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    store.create_campaign("c1", judgements_per_item=2, seed=3)
    store.add_items("c1", [NewItem([{"role": "user", "content": f"Question **{index}**"}],
                                   [Answer(text=f"plain answer {index}", source="a"), Answer(text=HOSTILE, source="b")])
                           for index in range(3)])
    store.add_reviewer("ana", "ana-password")
    store.add_reviewer("boss", "boss-password", admin=True)
    yield store
    store.close()


def client_for(store: FeedbackStore, **options) -> TestClient:
    return TestClient(create_app(store, **options), base_url="https://testserver", follow_redirects=False)


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client: TestClient, name: str, password: str):
    token = csrf(client.get("/login").text)
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token})


def open_next(client: TestClient) -> tuple[str, dict[str, str]]:
    """Follow /c/c1/next to the item page; returns its URL and its hidden fields."""
    location = client.get("/c/c1/next").headers["location"]
    page = client.get(location)
    assert page.status_code == 200
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text))
    return location, hidden


def test_pages_need_a_login_and_the_session_cookie_is_locked_down(store):
    client = client_for(store)
    assert client.get("/").headers["location"] == "/login"
    response = login(client, "ana", "ana-password")
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=lax" in cookie
    home = client.get("/")
    assert home.status_code == 200 and "/c/c1/next" in home.text
    assert "script-src 'self'" in home.headers["content-security-policy"]
    assert home.headers["x-frame-options"] == "DENY"


def test_wrong_passwords_get_growing_waits_then_the_right_one_works(store):
    clock = [1_000_000.0]
    policy = LoginPolicy(per_account=LoginBackoff(free_failures=3, first_wait=60, max_wait=600),
                         clock=lambda: clock[0])
    client = client_for(store, login_policy=policy)
    for _ in range(3):
        response = login(client, "ana", "wrong password")
        assert response.status_code == 401 and "wrong name or password" in response.text
    blocked = login(client, "ana", "ana-password")  # even the right password waits
    assert blocked.status_code == 429 and "too many failed logins; try again in 60 seconds" in blocked.text
    assert blocked.headers["retry-after"] == "60"
    clock[0] += 61  # the 4th attempt, wrong: the wait doubles
    assert login(client, "ana", "wrong password").status_code == 401
    assert "try again in 120 seconds" in login(client, "ana", "ana-password").text
    clock[0] += 121
    assert login(client, "ana", "ana-password").status_code == 303  # no lockout: right after the wait
    client.cookies.clear()
    assert login(client, "ana", "wrong password").status_code == 401  # the success cleared ana's counter


def test_posts_without_the_csrf_token_are_refused(store):
    client = client_for(store)
    assert client.post("/login", data={"name": "ana", "password": "ana-password"}).status_code == 403
    login(client, "ana", "ana-password")
    location, _ = open_next(client)
    refused = client.post(location, data={"preferred": "0", "csrf_token": "forged"})
    assert refused.status_code == 403 and "security token is missing or stale" in refused.text
    assert store.export_records() == []


def test_judging_through_the_form_stores_every_field(store):
    client = client_for(store)
    login(client, "ana", "ana-password")
    location, hidden = open_next(client)
    response = client.post(location, data={**hidden, "preferred": "1", "harmful": "on", "better_answer": "Four.",
                                           "rating-0-helpfulness": "2", "rating-1-safety": "1",
                                           "rating-1-accuracy": ""})
    assert response.status_code == 303 and response.headers["location"] == "/c/c1/next"
    [record] = store.export_records()
    assert (record.item_id, record.reviewer, record.preferred, record.harmful) == ("c1-1", "ana", 1, True)
    assert record.better_answer == "Four." and record.ratings == [{"helpfulness": 2}, {"safety": 1}]
    assert 0 <= record.seconds < 60
    assert client.post(location, data={**hidden, "preferred": "0"}).status_code == 303  # the same form again
    assert store.export_records()[0].preferred == 1  # stored once (same submission_id)
    next_location, _ = open_next(client)
    assert next_location == "/c/c1/items/c1-2"
    assert ">1</strong>" in client.get(next_location).text  # progress: one judged
    revisit = client.get(location).text  # ana may reopen her item to change her mind: her choices are filled in
    assert re.search(r'value="1" required\s+checked', revisit) and 'id="harmful" checked' in revisit
    other = client_for(store)
    login(other, "boss", "boss-password")
    assert open_next(other)[0] == location  # bo gets the same item (2 judgements wanted) ...
    assert "checked" not in other.get(location).text  # ... without seeing ana's choice


def test_bad_requests_get_4xx_with_a_clear_message(store):
    client = client_for(store)
    login(client, "ana", "ana-password")
    location, hidden = open_next(client)
    cases = [
        ({**hidden}, 400, "choose the better answer (or tie) before sending"),
        ({**hidden, "preferred": "abc"}, 400, "preferred must be a whole number, got &#39;abc&#39;"),
        ({**hidden, "preferred": "7"}, 400, "preferred=7 is not one of the item&#39;s 2 answers"),
        ({**hidden, "preferred": "0", "rating-0-safety": "9"}, 400, "safety rating must be a whole number from 1 to 5"),
        ({**hidden, "preferred": "0", "rating-x-safety": "3"}, 400, "rating-x-safety must be a whole number"),
        ({**hidden, "preferred": "0", "shown_at": "soon"}, 400, "shown_at must be a number"),
    ]
    for form, status, message in cases:
        response = client.post(location, data=form)
        assert (response.status_code, message in response.text) == (status, True), (form, response.text)
    assert client.get("/c/c1/items/c1-99").status_code == 404
    assert client.get("/c/c1/items/c1-3").status_code == 403  # not assigned to ana
    assert "not assigned to" in client.get("/c/c1/items/c1-3").text
    assert client.get("/c/nope/next").status_code == 404
    assert client.get("/no/such/page").status_code == 404
    assert client.get("/admin").status_code == 403
    garbled = client.post(location, content=b"garbage", headers={"content-type": "multipart/form-data"})  # no boundary
    assert garbled.status_code == 400 and "not a readable form" in garbled.text
    assert store.export_records() == []


def test_a_post_after_the_session_ended_says_so(store):
    client = client_for(store)
    login(client, "ana", "ana-password")
    location, hidden = open_next(client)
    client.cookies.clear()
    response = client.post(location, data={**hidden, "preferred": "0"})
    assert response.status_code == 401 and "log in and send the form again" in response.text


def test_model_output_is_escaped_not_executed(store):
    client = client_for(store)
    login(client, "ana", "ana-password")
    location, _ = open_next(client)
    html = client.get(location).text
    assert "<script>alert" not in html and "<img" not in html and 'href="javascript:' not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "[click](javascript:alert(2))" in html  # a javascript: link stays plain text
    assert '!<a href="http://evil/t.png">t</a>' in html  # an image becomes a link: nothing is fetched
    assert "Question <strong>0</strong>" in html  # markdown itself still renders


def test_render_markdown_keeps_code_and_drops_html():
    html = render_markdown("```\n<b>x</b>\n```\n\n<b>bold?</b>")
    assert html == "<pre><code>&lt;b&gt;x&lt;/b&gt;\n</code></pre>\n<p>&lt;b&gt;bold?&lt;/b&gt;</p>\n"


def test_admin_sees_progress_agreement_and_exports(store):
    for reviewer, choice in (("ana", 0), ("boss", 1)):
        item = store.next_item("c1", reviewer)
        store.add_judgement(NewJudgement(item.item_id, reviewer, preferred=choice))
    client = client_for(store)
    login(client, "boss", "boss-password")
    admin = client.get("/admin")
    assert admin.status_code == 200
    # One item, labels 0 and 1. Fleiss: P_o = 0, pooled shares 1/2, 1/2 -> P_e = 1/2, kappa = -1.
    # Cohen: P_o = 0, and each reviewer used a category the other never did -> P_e = 0, kappa = 0.
    assert "1 of 3 items complete" in admin.text and "Fleiss' kappa: <strong>-1.000</strong> over 1" in admin.text
    assert "<td>ana · boss</td><td>1</td><td>0.000</td>" in admin.text
    exported = client.get("/admin/c/c1/export?format=preference")
    assert exported.headers["content-disposition"] == 'attachment; filename="c1-preference.jsonl"'
    assert exported.text == export_jsonl(store.export_records(campaign="c1"), "preference")
    assert [json.loads(line)["source_id"] for line in exported.text.splitlines()] == ["c1-1:ana", "c1-1:boss"]
    assert client.get("/admin/c/c1/export?format=csv").status_code == 400
    assert client.get("/admin/c/nope/export").status_code == 404


def test_logout_ends_the_session(store):
    client = client_for(store)
    login(client, "ana", "ana-password")
    token = csrf(client.get("/").text)
    assert client.post("/logout", data={"csrf_token": token}).headers["location"] == "/login"
    assert client.get("/").headers["location"] == "/login"
