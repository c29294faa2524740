"""A running ``posttrain label serve`` with several reviewers at once, then killed and restarted."""

from __future__ import annotations

import re
import threading

import httpx
from label_server import running_server
from sqlalchemy.orm import Session

from posttrain.feedback.records import Answer
from posttrain.feedback.store import FeedbackStore, LoginThrottle, NewItem
from posttrain.label.app import LoginPolicy

REVIEWERS = [f"reviewer{index}" for index in range(4)]


def login(client: httpx.Client, name: str) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post("/login", data={"name": name, "password": f"{name}-password", "csrf_token": token})
    assert response.status_code == 303, response.text


def judge_until_done(client: httpx.Client, acknowledged: list[tuple[str, str, int]], name: str) -> None:
    """Judge every item the server hands out; record each judgement the server acknowledged (303)."""
    while True:
        response = client.get("/c/c1/next")
        if response.status_code == 200:  # "nothing left for you"
            assert "Nothing left for you" in response.text
            return
        location = response.headers["location"]
        page = client.get(location).text
        hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
        first_shown = int(re.search(r'name="preferred" value="(\d+)"', page).group(1))
        sent = client.post(location, data={**hidden, "preferred": str(first_shown)})
        assert sent.status_code == 303, sent.text
        acknowledged.append((name, location.rsplit("/", 1)[1], first_shown))


def test_concurrent_reviewers_lose_nothing_across_a_restart(tmp_path):
    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    store = FeedbackStore(url)
    store.create_campaign("c1", judgements_per_item=2)
    store.add_items("c1", [NewItem([{"role": "user", "content": f"q{index}"}],
                                   [Answer(text=f"a{index}", source="x"), Answer(text=f"b{index}", source="y")])
                           for index in range(10)])
    for name in REVIEWERS:
        store.add_reviewer(name, f"{name}-password")
    store.add_reviewer("boss", "boss-password", admin=True)
    acknowledged: list[tuple[str, str, int]] = []
    errors: list[BaseException] = []
    with running_server(url, "--insecure-cookies") as base:
        for path in ("/", "/c/c1/next", "/admin"):  # no session: to the login page
            response = httpx.get(base + path)
            assert response.status_code == 303 and response.headers["location"] == "/login"
        bad = httpx.post(base + "/login", content=b"\xff\xfe",
                         headers={"content-type": "application/x-www-form-urlencoded"})
        assert bad.status_code == 403 and "security token" in bad.text
        clients = [httpx.Client(base_url=base, timeout=30) for _ in REVIEWERS]

        def work(client: httpx.Client, name: str) -> None:
            try:
                login(client, name)
                judge_until_done(client, acknowledged, name)
            except BaseException as error:  # noqa: BLE001  (reported by the assert below)
                errors.append(error)

        threads = [threading.Thread(target=work, args=(client, name)) for client, name in zip(clients, REVIEWERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    # The server was killed with SIGKILL: no clean shutdown, nothing flushed on the way out.
    assert errors == []
    assert len(acknowledged) == 20  # 10 items x 2 independent judgements, none over
    stored = {(record.reviewer, record.item_id, record.preferred) for record in FeedbackStore(url).export_records()}
    assert stored == set(acknowledged)
    per_item = {}
    for name, item_id, _ in acknowledged:
        per_item.setdefault(item_id, set()).add(name)
    assert all(len(names) == 2 for names in per_item.values()) and len(per_item) == 10

    with running_server(url, "--insecure-cookies") as base:
        assert clients[0].get(f"{base}/").status_code == 200  # the session outlives the restart (key in the db)
        with httpx.Client(base_url=base, timeout=30) as admin:
            login(admin, "boss")
            assert "10 of 10 items complete" in admin.get("/admin").text
    for client in clients:
        client.close()



def test_the_server_believes_x_forwarded_for_only_from_a_trusted_proxy(tmp_path):
    """uvicorn alone trusts the header from 127.0.0.1; ``label serve`` only with ``--trusted-proxy``.
    The throttle's rows in the database show which address each attempt was counted against."""
    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    store = FeedbackStore(url)
    store.add_reviewer("ana", "ana-password")

    def attempt(client: httpx.Client, password: str, forwarded_for: str) -> int:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
        return client.post("/login", data={"name": "ana", "password": password, "csrf_token": token},
                           headers={"X-Forwarded-For": forwarded_for}).status_code

    def failures(address: str) -> int | None:
        account_key = next(iter(LoginPolicy().limits("ana", address)))
        with Session(store.engine) as session:
            row = session.get(LoginThrottle, account_key)
            return row.failures if row else None

    with running_server(url, "--insecure-cookies") as base, httpx.Client(base_url=base, timeout=30) as client:
        assert [attempt(client, "wrong", f"192.0.2.{index}") for index in range(3)] == [401] * 3
    assert failures("127.0.0.1") == 3 and [failures(f"192.0.2.{index}") for index in range(3)] == [None] * 3
    with (running_server(url, "--insecure-cookies", "--trusted-proxy", "127.0.0.1") as base,
          httpx.Client(base_url=base, timeout=30) as client):
        assert [attempt(client, "wrong", "192.0.2.1") for _ in range(2)] == [401] * 2
        assert attempt(client, "ana-password", "192.0.2.2") == 303
    assert (failures("192.0.2.1"), failures("192.0.2.2"), failures("127.0.0.1")) == (2, None, 3)
