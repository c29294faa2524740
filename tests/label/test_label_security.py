"""Login security of the labeling app, in-process against a real SQLite store: attempts counted before
Argon2 (a concurrent burst is cut off), bounded concurrent checks, X-Forwarded-For only from trusted
proxies, growing waits keyed by account and address (no lockout), sessions revoked server-side."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from posttrain.feedback import store as store_module
from posttrain.feedback.records import Answer
from posttrain.feedback.store import FeedbackStore, LoginBackoff, NewItem
from posttrain.label.app import LoginPolicy, create_app

ATTACKER, REVIEWER, PROXY = "203.0.113.9", "198.51.100.7", "10.0.0.1"
SLOW = LoginBackoff(free_failures=3, first_wait=600, max_wait=600)  # 3 free failures, then 10 minutes: no test waits it out


class CountingHasher(PasswordHasher):
    """Argon2 with tiny costs that records every verification: how many, which passwords, how many at once."""

    def __init__(self, hold_seconds: float = 0.0):
        super().__init__(time_cost=1, memory_cost=256, parallelism=1)
        self.hold_seconds, self.release = hold_seconds, threading.Event()
        self.release.set()
        self.checked: list[str] = []
        self.active = self.peak = 0
        self._lock = threading.Lock()

    def verify(self, hash, password):
        with self._lock:
            self.checked.append(password)
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            self.release.wait(30)
            time.sleep(self.hold_seconds)  # a slow hash, so that concurrent checks overlap
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.active -= 1


def use_hasher(monkeypatch, hasher: CountingHasher) -> CountingHasher:
    monkeypatch.setitem(store_module._HASHER, "hasher", hasher)
    monkeypatch.setitem(store_module._HASHER, "dummy", hasher.hash("dummy password"))
    return hasher


@pytest.fixture
def store(tmp_path):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    store.create_campaign("c1", judgements_per_item=1, seed=3)
    store.add_items("c1", [NewItem([{"role": "user", "content": "Hi"}],
                                   [Answer(text="a", source="a"), Answer(text="b", source="b")])])
    store.add_reviewer("ana", "ana-password")
    yield store
    store.close()


def client(app, address: str = REVIEWER, port: int = 50000) -> TestClient:
    return TestClient(app, base_url="https://testserver", follow_redirects=False, client=(address, port))


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(browser: TestClient, name: str, password: str, **headers: str):
    token = csrf(browser.get("/login").text)
    return browser.post("/login", data={"name": name, "password": password, "csrf_token": token}, headers=headers)


def login_at_once(browsers: list[TestClient], name: str, passwords: list[str]) -> list[int]:
    """Each browser sends its login form at the same moment (one thread each); their status codes, in order."""
    tokens = [csrf(browser.get("/login").text) for browser in browsers]
    start = threading.Barrier(len(browsers))
    statuses = [0] * len(browsers)

    def attempt(index: int) -> None:
        start.wait()
        form = {"name": name, "password": passwords[index], "csrf_token": tokens[index]}
        statuses[index] = browsers[index].post("/login", data=form).status_code

    threads = [threading.Thread(target=attempt, args=(index,)) for index in range(len(browsers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_a_concurrent_burst_of_guesses_is_cut_off_before_argon2(store, monkeypatch):
    """40 wrong guesses and the right password, sent at once from one address: 3 are checked, 38 get 429."""
    hasher = use_hasher(monkeypatch, CountingHasher(hold_seconds=0.05))
    app = create_app(store, login_policy=LoginPolicy(per_account=SLOW))
    passwords = [f"guess-{index}" for index in range(40)] + ["ana-password"]
    browsers = [client(app, ATTACKER, 40000 + index) for index in range(len(passwords))]
    statuses = login_at_once(browsers, "ana", passwords)
    counts = Counter(statuses)
    assert len(hasher.checked) == 3  # every attempt was counted before its check: only the free 3 ran
    assert counts[429] == 38 and counts[401] + counts[303] == 3, counts
    right_was_checked = "ana-password" in hasher.checked
    assert statuses[-1] == (303 if right_was_checked else 429)
    assert counts[303] == int(right_was_checked)
    if not right_was_checked:  # the burst left the attacker 10 minutes to wait, right password or not
        refused = login(browsers[-1], "ana", "ana-password")
        assert refused.status_code == 429 and "try again in 600 seconds" in refused.text
        assert len(hasher.checked) == 3


def test_concurrent_password_checks_are_bounded(store, monkeypatch):
    hasher = use_hasher(monkeypatch, CountingHasher(hold_seconds=0.15))
    app = create_app(store, login_policy=LoginPolicy(max_concurrent_checks=2, queue_seconds=30))
    browsers = [client(app, f"198.51.100.{index}") for index in range(1, 9)]  # 8 addresses: 8 throttle keys
    statuses = login_at_once(browsers, "ana", ["ana-password"] * 8)
    assert statuses == [303] * 8  # every login waited for a slot and got in
    assert len(hasher.checked) == 8 and hasher.peak == 2


def test_a_login_that_finds_no_free_check_gets_a_503_and_is_not_a_failure(store, monkeypatch):
    hasher = use_hasher(monkeypatch, CountingHasher())
    hasher.release.clear()  # the first check holds the only slot until released
    app = create_app(store, login_policy=LoginPolicy(max_concurrent_checks=1, queue_seconds=0.2,
                                                     per_account=LoginBackoff(free_failures=1, first_wait=600, max_wait=600)))
    first, second = client(app, "198.51.100.1"), client(app, REVIEWER)
    holder = threading.Thread(target=lambda: login(first, "ana", "ana-password"))
    holder.start()
    while not hasher.checked:
        time.sleep(0.01)
    busy = login(second, "ana", "ana-password")
    assert busy.status_code == 503 and "the server is busy checking other logins" in busy.text
    assert busy.headers["retry-after"] == "5"
    hasher.release.set()
    holder.join()
    # The 503 was not counted: with one free failure, a counted attempt would make this one wait.
    assert login(second, "ana", "ana-password").status_code == 303


def test_x_forwarded_for_is_ignored_unless_a_trusted_proxy_sent_it(store):
    policy = LoginPolicy(per_account=SLOW)
    direct = client(create_app(store, login_policy=policy), ATTACKER)
    for index in range(3):  # a new "address" per guess: all are counted against the real peer
        assert login(direct, "ana", "wrong", **{"X-Forwarded-For": f"192.0.2.{index}"}).status_code == 401
    assert login(direct, "ana", "ana-password", **{"X-Forwarded-For": "192.0.2.99"}).status_code == 429

    behind = create_app(store, login_policy=policy, trusted_proxies=[PROXY])
    proxy = client(behind, PROXY)
    for _ in range(3):
        assert login(proxy, "ana", "wrong", **{"X-Forwarded-For": "192.0.2.50"}).status_code == 401
    assert login(proxy, "ana", "ana-password", **{"X-Forwarded-For": "192.0.2.50"}).status_code == 429
    # Through the trusted proxy, a different client is a different key: the real user gets in.
    proxy.cookies.clear()
    assert login(proxy, "ana", "ana-password", **{"X-Forwarded-For": "192.0.2.51"}).status_code == 303
    # Read from the right: a client cannot prepend an address the proxy did not add.
    spoofer = client(behind, PROXY, 50001)
    spoofed = login(spoofer, "ana", "ana-password", **{"X-Forwarded-For": "192.0.2.51, 192.0.2.50"})
    assert spoofed.status_code == 429
    # A peer that is not a configured proxy cannot use the header either: naming the throttled
    # 192.0.2.50 does not make it wait, and naming a fresh address does not spare it a wait.
    stranger = client(behind, "192.0.2.60")
    for _ in range(3):
        assert login(stranger, "ana", "wrong", **{"X-Forwarded-For": "192.0.2.50"}).status_code == 401
    assert login(stranger, "ana", "ana-password", **{"X-Forwarded-For": "192.0.2.77"}).status_code == 429


def test_bad_trusted_proxy_is_a_user_error(store):
    from posttrain.errors import UserError

    with pytest.raises(UserError, match="--trusted-proxy 'proxy.local' is not an IP address or network"):
        create_app(store, trusted_proxies=["proxy.local"])


def test_an_attacker_elsewhere_cannot_lock_the_real_user_out(store):
    app = create_app(store, login_policy=LoginPolicy(per_account=SLOW))
    attacker = client(app, ATTACKER)
    statuses = [login(attacker, "ana", f"guess-{index}").status_code for index in range(10)]
    assert statuses == [401] * 3 + [429] * 7
    assert login(client(app, REVIEWER), "ana", "ana-password").status_code == 303


def test_many_names_from_one_address_are_throttled_too(store):
    policy = LoginPolicy(per_address=LoginBackoff(free_failures=5, first_wait=600, max_wait=600))
    app = create_app(store, login_policy=policy)
    sprayer = client(app, ATTACKER)
    statuses = [login(sprayer, f"user{index}", "password1").status_code for index in range(7)]
    assert statuses == [401] * 5 + [429] * 2
    assert login(client(app, REVIEWER), "ana", "ana-password").status_code == 303


def test_a_cookie_copied_before_logout_is_refused_after(store):
    app = create_app(store)
    browser = client(app)
    assert login(browser, "ana", "ana-password").status_code == 303
    other_browser = client(app, "198.51.100.8")
    assert login(other_browser, "ana", "ana-password").status_code == 303
    copied = dict(browser.cookies)
    thief = client(app, ATTACKER)
    thief.cookies.update(copied)
    assert thief.get("/").status_code == 200  # the copy works while the session lives
    assert browser.post("/logout", data={"csrf_token": csrf(browser.get("/").text)}).status_code == 303
    assert thief.get("/").headers["location"] == "/login"
    assert thief.get("/c/c1/next").headers["location"] == "/login"
    assert other_browser.get("/").headers["location"] == "/login"  # logout ends every session of the account
    assert login(browser, "ana", "ana-password").status_code == 303  # and a new login works
    assert browser.get("/").status_code == 200


def test_a_password_reset_revokes_every_session(store):
    app = create_app(store)
    browser = client(app)
    login(browser, "ana", "ana-password")
    assert browser.get("/").status_code == 200
    store.set_password("ana", "a new password")
    assert browser.get("/").headers["location"] == "/login"
    assert login(browser, "ana", "ana-password").status_code == 401
    assert login(browser, "ana", "a new password").status_code == 303
    assert browser.get("/").status_code == 200
