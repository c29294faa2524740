"""The feedback store: append-only judgements, assignment, served feedback, exports, migrations."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, inspect, select

from posttrain.errors import UserError
from posttrain.feedback.records import (
    Answer,
    FeedbackRecord,
    read_records,
    to_training_rows,
)
from posttrain.feedback.store import (
    VERSION_TABLE,
    Base,
    FeedbackStore,
    Judgement,
    LoginBackoff,
    NewItem,
    NewJudgement,
    NotAssignedError,
    NotFoundError,
    Reviewer,
    ReviewerAccount,
    export_jsonl,
)

USER = [{"role": "user", "content": "What is 2 + 2?"}]


def items(count: int, answers: int = 2) -> list[NewItem]:
    return [NewItem(prompt=[{"role": "user", "content": f"question {index}"}],
                    answers=[Answer(text=f"answer {index}.{position}", source=f"model-{position}")
                             for position in range(answers)])
            for index in range(count)]


@pytest.fixture
def store(store_url):
    store = FeedbackStore(store_url)
    store.create_campaign("c1", judgements_per_item=2, seed=7)
    for name in ("ana", "bo", "cy"):
        store.add_reviewer(name, f"{name}-password")
    yield store
    store.close()


def judge(store: FeedbackStore, reviewer: str, preferred: int | None, **fields) -> str:
    item = store.next_item("c1", reviewer)
    store.add_judgement(NewJudgement(item_id=item.item_id, reviewer=reviewer, preferred=preferred, **fields))
    return item.item_id


def test_judgement_round_trip_in_original_answer_order(store):
    store.add_items("c1", [NewItem(USER, [Answer(text="4", source="good"), Answer(text="5", source="bad"),
                                          Answer(text="four", source="words")])])
    item = store.next_item("c1", "ana")
    assert sorted(answer.position for answer in item.answers) == [0, 1, 2]
    assert {answer.text for answer in item.answers} == {"4", "5", "four"}
    store.add_judgement(NewJudgement(item.item_id, "ana", preferred=0, ratings={1: {"accuracy": 1, "safety": 5}},
                                     seconds=12.5))
    [record] = store.export_records()
    assert record.kind == "judgement" and record.id == "c1-1:ana" and record.item_id == "c1-1"
    assert record.campaign == "c1" and record.reviewer == "ana" and record.prompt == USER
    assert [(answer.text, answer.source) for answer in record.answers] == [
        ("4", "good"), ("5", "bad"), ("four", "words")]
    assert record.preferred == 0 and record.seconds == 12.5 and not record.harmful
    assert record.ratings == [{}, {"accuracy": 1, "safety": 5}, {}]
    assert record.created.endswith("Z")


def test_a_changed_judgement_is_a_new_row_and_the_latest_is_exported(store):
    store.add_items("c1", items(1))
    item_id = judge(store, "ana", 0)
    store.add_judgement(NewJudgement(item_id, "ana", preferred=None, better_answer="  a better one  "))
    with store._session() as session:
        assert session.scalar(select(func.count()).select_from(Judgement)) == 2  # both kept
    [record] = store.export_records()
    assert record.preferred is None and record.better_answer == "a better one"
    assert store.item_for("c1", item_id, "ana").previous["better_answer"] == "a better one"


def test_a_resent_form_is_stored_once(store):
    store.add_items("c1", items(1))
    item = store.next_item("c1", "ana")
    first = NewJudgement(item.item_id, "ana", preferred=1, submission_id="form-1")
    assert store.add_judgement(first) is True
    assert store.add_judgement(first) is False
    with store._session() as session:
        assert session.scalar(select(func.count()).select_from(Judgement)) == 1


def test_assignment_gives_each_item_the_configured_number_of_reviewers(store):
    store.add_items("c1", items(3))
    # ana and bo both get item 1 first (closest to complete), cy then gets item 2.
    assert judge(store, "ana", 0) == "c1-1"
    assert store.next_item("c1", "bo").item_id == "c1-1"
    assert store.next_item("c1", "cy").item_id == "c1-2"  # c1-1 holds two claims already
    assert store.next_item("c1", "cy").item_id == "c1-2"  # an open assignment comes back until judged
    assert store.reviewer_progress("c1", "ana") == (1, 2)  # c1-1 done; c1-2 (one claim) and c1-3 open
    assert store.reviewer_progress("c1", "cy") == (0, 2)  # its open c1-2, and c1-3


def test_a_reviewer_never_gets_an_item_twice_and_runs_out(store):
    store.add_items("c1", items(2))
    seen = [judge(store, "ana", 0), judge(store, "ana", 1)]
    assert seen == ["c1-1", "c1-2"]
    assert store.next_item("c1", "ana") is None
    assert store.reviewer_progress("c1", "ana") == (2, 0)


def test_an_abandoned_assignment_frees_its_slot_after_the_lease(store_url):
    store = FeedbackStore(store_url, lease_minutes=1e-9)
    store.create_campaign("c1", judgements_per_item=1)
    store.add_items("c1", items(1))
    for name in ("ana", "bo"):
        store.add_reviewer(name, "long enough")
    assert store.next_item("c1", "ana").item_id == "c1-1"  # never answered
    assert store.next_item("c1", "bo").item_id == "c1-1"
    store.close()
    store = FeedbackStore(store_url)  # a 30 min lease: the unanswered claims still count
    store.add_reviewer("cy", "long enough")
    assert store.next_item("c1", "cy") is None
    store.close()


def test_answer_order_is_shuffled_per_reviewer_and_recorded(store):
    store.add_items("c1", items(8, answers=3))
    orders = {}
    for reviewer in ("ana", "bo"):
        for _ in range(8):
            item = store.next_item("c1", reviewer)
            orders[reviewer, item.item_id] = [answer.position for answer in item.answers]
            store.add_judgement(NewJudgement(item.item_id, reviewer, preferred=item.answers[0].position))
    assert all(sorted(order) == [0, 1, 2] for order in orders.values())
    assert len({tuple(order) for order in orders.values()}) > 1  # not one fixed order
    assert any(orders["ana", f"c1-{n}"] != orders["bo", f"c1-{n}"] for n in range(1, 9))
    with store._session() as session:
        recorded = {(name, item_id): order for item_id, name, order in session.execute(
            select(Judgement.item_id, Reviewer.name, Judgement.answer_order).join(Reviewer))}
    assert recorded == orders  # each judgement keeps the order its reviewer saw
    # "the first answer shown" maps back to original positions in the export
    records = store.export_records()
    first_shown = [orders[record.reviewer, record.item_id][0] for record in records]
    assert [record.preferred for record in records] == first_shown


def test_bad_judgements_are_user_errors(store):
    store.add_items("c1", items(2))
    item = store.next_item("c1", "ana")
    with pytest.raises(NotAssignedError, match="not assigned to 'bo'"):
        store.add_judgement(NewJudgement(item.item_id, "bo", preferred=0))
    with pytest.raises(UserError, match="preferred=2 is not one of the item's 2 answers"):
        store.add_judgement(NewJudgement(item.item_id, "ana", preferred=2))
    with pytest.raises(UserError, match="accuracy rating must be a whole number from 1 to 5, got 6"):
        store.add_judgement(NewJudgement(item.item_id, "ana", preferred=0, ratings={0: {"accuracy": 6}}))
    with pytest.raises(UserError, match="unknown rating 'style'"):
        store.add_judgement(NewJudgement(item.item_id, "ana", preferred=0, ratings={0: {"style": 3}}))
    with pytest.raises(NotFoundError, match="no item 'c1-99'"):
        store.add_judgement(NewJudgement("c1-99", "ana", preferred=0))
    with pytest.raises(NotFoundError, match="no campaign 'nope'"):
        store.next_item("nope", "ana")
    with pytest.raises(UserError, match="already exists"):
        store.create_campaign("c1")
    with pytest.raises(UserError, match="needs at least 2"):
        store.add_items("c1", items(1, answers=1))
    with pytest.raises(UserError, match="at least 8 characters"):
        store.add_reviewer("dee", "short")
    assert store.export_records() == []  # nothing half-written


def test_passwords_are_hashed_and_checked(store):
    with store._session() as session:
        stored = session.scalar(select(Reviewer.password_hash).where(Reviewer.name == "ana"))
    assert stored.startswith("$argon2id$") and "ana-password" not in stored
    assert store.authenticate("ana", "ana-password").name == "ana"
    assert store.authenticate("ana", "bo-password") is None
    assert store.authenticate("nobody", "ana-password") is None


def test_served_feedback_keeps_every_row_and_exports_the_latest(store):
    prompt = [{"role": "user", "content": "Hi"}]
    store.record_served(FeedbackRecord(kind="served", id="chatcmpl-1", model="m", prompt=prompt,
                                       answers=[Answer(text="Hello!"), Answer(text="Go away")]))
    store.record_served(FeedbackRecord(kind="served", id="chatcmpl-2", model="m", prompt=prompt,
                                       answers=[Answer(text="Yo")]))  # no feedback: not exported
    store.add_served_feedback("chatcmpl-1", thumbs="down")
    store.add_served_feedback("chatcmpl-1", thumbs="up")
    latest = store.add_served_feedback("chatcmpl-1", preferred=0)
    assert (latest.thumbs, latest.preferred) == ("up", 0)
    [record] = store.export_records()
    assert (record.kind, record.id, record.model) == ("served", "chatcmpl-1", "m")
    assert (record.thumbs, record.preferred) == ("up", 0)
    rows = to_training_rows([record])
    assert rows.unpaired == [{"prompt": prompt, "completion": "Hello!", "label": True, "source_id": "chatcmpl-1"}]
    assert [(row["chosen"], row["rejected"]) for row in rows.preference] == [("Hello!", "Go away")]
    with pytest.raises(UserError, match="no served response with id 'nope'"):
        store.add_served_feedback("nope", thumbs="up")
    with pytest.raises(LookupError):  # the serving endpoint maps this to its own 404
        store.add_served_feedback("nope", thumbs="up")
    with pytest.raises(UserError, match="thumbs must be 'up' or 'down'"):
        store.add_served_feedback("chatcmpl-1", thumbs="sideways")
    with pytest.raises(UserError, match="preferred=5 is not an index"):
        store.add_served_feedback("chatcmpl-1", preferred=5)
    with pytest.raises(UserError, match="already recorded"):
        store.record_served(FeedbackRecord(kind="served", id="chatcmpl-1", prompt=prompt, answers=[Answer(text="x")]))


def test_export_rules_for_ties_flags_and_written_answers(store):
    """Through to_training_rows: a tie gives no pair, a harmful flag none, a written answer SFT + pairs."""
    store.add_items("c1", items(4))
    judge(store, "ana", 1)  # c1-1: answer 1 over answer 0
    judge(store, "ana", None)  # c1-2: tie
    judge(store, "ana", 0, harmful=True)  # c1-3: flagged
    judge(store, "ana", 0, better_answer="the right answer")  # c1-4
    records = store.export_records()
    assert [record.item_id for record in records] == ["c1-1", "c1-2", "c1-3", "c1-4"]
    preference = [json.loads(line) for line in export_jsonl(records, "preference").splitlines()]
    assert [(row["source_id"], row["chosen"], row["rejected"]) for row in preference] == [
        ("c1-1:ana", "answer 0.1", "answer 0.0"),
        ("c1-4:ana", "the right answer", "answer 3.0"), ("c1-4:ana", "the right answer", "answer 3.1")]
    sft = [json.loads(line) for line in export_jsonl(records, "sft").splitlines()]
    assert sft == [{"messages": [{"role": "user", "content": "question 3"},
                                 {"role": "assistant", "content": "the right answer"}], "source_id": "c1-4:ana"}]
    assert export_jsonl(records, "unpaired") == ""
    with pytest.raises(UserError, match="unknown export format 'csv'"):
        export_jsonl(records, "csv")


def test_records_export_reads_back_and_since_filters(store, tmp_path):
    store.add_items("c1", items(2))
    judge(store, "ana", 0)
    first = store.export_records()
    judge(store, "ana", 1)
    path = tmp_path / "records.jsonl"
    path.write_text(export_jsonl(store.export_records(), "records"))
    assert [record.item_id for record in read_records(str(path))] == ["c1-1", "c1-2"]
    newer = store.export_records(since=first[-1].created)
    assert [record.item_id for record in newer] == ["c1-2"]
    assert store.export_records(since="2999-01-01T00:00:00+00:00") == []
    assert store.export_records(campaign="c1") == store.export_records()
    with pytest.raises(UserError, match="not an ISO time"):
        store.export_records(since="yesterday")


def test_progress_and_agreement_match_hand_computed_kappas(store):
    """Two reviewers on 4 items (2 answers each): ana picks 0, 0, 1, tie; bo picks 0, 1, 1, tie.
    Cohen: P_o = 3/4; marginals 0: 2/1, 1: 1/2, tie: 1/1 -> P_e = (2 + 2 + 1)/16 = 5/16;
    kappa = (12/16 - 5/16) / (11/16) = 7/11. Fleiss on the same 4 items (2 raters): pooled shares
    0: 3/8, 1: 3/8, tie: 2/8 -> P_e = (9 + 9 + 4)/64 = 22/64; kappa = (48/64 - 22/64) / (42/64) = 13/21."""
    store.add_items("c1", items(4))
    for reviewer, choices in (("ana", [0, 0, 1, None]), ("bo", [0, 1, 1, None])):
        for choice in choices:
            judge(store, reviewer, choice)
    progress = store.progress("c1")
    assert (progress.items, progress.complete_items, progress.judgements) == (4, 4, 8)
    assert progress.per_reviewer == {"ana": 4, "bo": 4}
    agreement = store.agreement("c1")
    assert agreement.fleiss == pytest.approx(13 / 21) and agreement.fleiss_items == 4
    [(first, second, shared, kappa)] = agreement.cohen
    assert (first, second, shared) == ("ana", "bo", 4) and kappa == pytest.approx(7 / 11)


def test_concurrent_writers_lose_nothing(store):
    store.add_items("c1", items(12))
    errors: list[Exception] = []

    def work(reviewer: str) -> None:
        try:
            while (item := store.next_item("c1", reviewer)) is not None:
                store.add_judgement(NewJudgement(item.item_id, reviewer, preferred=0))
        except Exception as error:  # noqa: BLE001  (reported by the assert below)
            errors.append(error)

    threads = [threading.Thread(target=work, args=(name,)) for name in ("ana", "bo", "cy")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    progress = store.progress("c1")
    assert progress.judgements == 24 and progress.complete_items == 12  # 12 items x 2 judgements, none over
    assert sum(progress.per_reviewer.values()) == 24


def test_migrations_build_exactly_the_model_schema(store_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = FeedbackStore(store_url)
    FeedbackStore(store_url).close()  # opening again is a no-op upgrade
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        assert compare_metadata(context, Base.metadata) == []
        assert context.get_current_revision() == "0003"
    assert "judgements" in inspect(store.engine).get_table_names()
    store.close()


def test_bad_urls_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="supports sqlite:// and postgresql://"):
        FeedbackStore("mysql://localhost/x")
    with pytest.raises(UserError, match="not a database URL"):
        FeedbackStore("not a url")
    with pytest.raises(UserError, match="cannot open the feedback database"):
        FeedbackStore(f"sqlite:///{tmp_path}")  # a directory


def test_session_secret_is_made_once(store):
    assert store.session_secret() == store.session_secret() and len(store.session_secret()) > 40


def test_login_attempts_are_counted_before_any_check_even_when_concurrent(store):
    """40 threads count an attempt on one key at once: exactly the 3 free ones may go ahead."""
    limits = {"k" * 64: LoginBackoff(free_failures=3, first_wait=600, max_wait=600)}
    waits: list[float] = []
    start = threading.Barrier(40)

    def attempt() -> None:
        start.wait()
        waits.append(store.count_login_attempt(limits))

    threads = [threading.Thread(target=attempt) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(waits)[:4] == [0.0, 0.0, 0.0, pytest.approx(600, abs=30)]
    assert sum(wait == 0.0 for wait in waits) == 3


def test_login_backoff_doubles_up_to_its_cap_and_forgets(store):
    """free 2, first wait 10 s, cap 40 s: failures 0,1 -> 0; 2 -> 10; 3 -> 20; 4 -> 40; 5 -> 40 (cap)."""
    backoff = LoginBackoff(free_failures=2, first_wait=10, max_wait=40, forget_after=100)
    assert [backoff.wait(failures) for failures in range(6)] == [0, 0, 10, 20, 40, 40]
    key, start = "a" * 64, datetime(2026, 12, 1, 12, 0, 0)
    at = lambda seconds: start + timedelta(seconds=seconds)  # noqa: E731
    assert [store.count_login_attempt({key: backoff}, at(0)) for _ in range(2)] == [0.0, 0.0]
    assert store.count_login_attempt({key: backoff}, at(4)) == 6.0  # 10 s after the 2nd failure
    assert store.count_login_attempt({key: backoff}, at(10)) == 0.0  # the 3rd attempt, counted
    assert store.count_login_attempt({key: backoff}, at(25)) == 5.0  # 20 s after it
    store.uncount_login_attempt([key])  # a 503: the 3rd is taken back, so the wait is 10 s again
    assert store.count_login_attempt({key: backoff}, at(25)) == 0.0
    assert store.count_login_attempt({key: backoff}, at(200)) == 0.0  # 175 s unused: forgotten, counted afresh
    assert store.count_login_attempt({key: backoff}, at(200)) == 0.0
    assert store.count_login_attempt({key: backoff}, at(200)) == 10.0
    store.uncount_login_attempt([key], forget=(key,))  # a success: the key starts afresh
    assert store.count_login_attempt({key: backoff}, at(200)) == 0.0


def test_set_password_and_end_sessions_raise_the_session_epoch(store):
    assert store.account("ana").session_epoch == 0
    store.end_sessions("ana")
    assert store.authenticate("ana", "ana-password").session_epoch == 1
    store.set_password("ana", "another password")
    assert store.authenticate("ana", "ana-password") is None
    assert store.authenticate("ana", "another password").session_epoch == 2
    assert store.account("bo").session_epoch == 0
    with pytest.raises(NotFoundError, match="no reviewer 'nobody'"):
        store.set_password("nobody", "long enough")
    with pytest.raises(UserError, match="at least 8 characters"):
        store.set_password("ana", "short")


def test_a_version_0001_database_is_upgraded_and_its_accounts_keep_working(store_url):
    from alembic import command
    from alembic.config import Config

    from posttrain.feedback.store import MIGRATIONS

    store = FeedbackStore(store_url)
    store.add_reviewer("ana", "ana-password")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    assert "login_throttle" not in inspect(store.engine).get_table_names()
    store.close()
    upgraded = FeedbackStore(store_url)
    assert upgraded.authenticate("ana", "ana-password") == ReviewerAccount("ana", False, 0)
    assert upgraded.count_login_attempt({"b" * 64: LoginBackoff()}) == 0.0
    upgraded.close()
