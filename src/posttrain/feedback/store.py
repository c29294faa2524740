"""The feedback store: campaigns, items, reviewers, judgements and served-model feedback in one database.

A SQLite file by default (``sqlite:///posttrain-feedback.db``), or PostgreSQL by URL for a team
(``postgresql://user:pass@host/db``; the ``psycopg`` driver is picked for a bare scheme). Opening a
store runs the Alembic migrations in ``feedback/migrations`` up to head, so a store file made by
an older version is upgraded in place.

Nothing is ever overwritten: a changed judgement is a new row, and served-model feedback is a
new row per thumbs or choice. Exports take the latest judgement per item and reviewer, and the
latest feedback per served response, as :class:`~posttrain.feedback.records.FeedbackRecord`\\ s;
the trainers' formats come from those through ``to_training_rows``.

Accounts: Argon2id password hashes and a session epoch (raised by ``end_sessions`` and
``set_password`` to revoke the labeling app's cookies); the app's login throttle counts attempts
here (``count_login_attempt``), so the count is shared by every server on the database. A SQLite
file is created owner-only (0600), since it holds the hashes and the session key.

Example::

    store = FeedbackStore("sqlite:///feedback.db")
    store.create_campaign("c1", judgements_per_item=2)
    store.add_items("c1", [NewItem(prompt=[{"role": "user", "content": "Hi"}],
                                   answers=[Answer(text="Hello!", source="a"), Answer(text="Hey", source="b")])])
    store.add_reviewer("ana", "a long password")
    item = store.next_item("c1", "ana")
    store.add_judgement(NewJudgement(item_id=item.item_id, reviewer="ana", preferred=0))
    records = store.export_records()
"""

from __future__ import annotations

import json
import random
import re
import secrets
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from posttrain.util import require_web

require_web("the feedback store")  # before SQLAlchemy's import, so that its absence is one line naming the extra

from sqlalchemy import (  # noqa: E402
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    exists,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import StaticPool

from posttrain.errors import UserError
from posttrain.feedback import DEFAULT_URL, EXPORT_FORMATS
from posttrain.feedback.agreement import cohen_kappa, fleiss_kappa
from posttrain.feedback.files import ensure_private_file, tighten_if_present
from posttrain.feedback.records import (
    Answer,
    FeedbackRecord,
    record_line,
    to_training_rows,
)

ASPECTS = ("helpfulness", "accuracy", "safety")
MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "posttrain_feedback_version"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class NotFoundError(UserError, LookupError):
    """A campaign, item, reviewer or served response that does not exist."""


class NotAssignedError(UserError):
    """A reviewer acting on an item that was never assigned to them."""


# ---- tables ------------------------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class Campaign(Base):
    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    judgements_per_item: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)  # seeds each reviewer's answer order
    created: Mapped[datetime] = mapped_column(DateTime)


class Item(Base):
    __tablename__ = "items"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # "<campaign>-<position>"
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    prompt: Mapped[list] = mapped_column(JSON)  # chat messages
    created: Mapped[datetime] = mapped_column(DateTime)
    gold: Mapped[int | None] = mapped_column(Integer, nullable=True)  # a gold item's known better answer
    __table_args__ = (UniqueConstraint("campaign_id", "position"),)


class ItemAnswer(Base):
    __tablename__ = "answers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # the index judgements refer to
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(200), default="")  # the model or file the answer came from
    __table_args__ = (UniqueConstraint("item_id", "position"),)


class Reviewer(Base):
    __tablename__ = "reviewers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(DateTime)
    # A session cookie names the epoch it was issued in; raising the epoch (logout, password reset)
    # makes every cookie issued before it worthless, copies included.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class LoginThrottle(Base):
    """Login attempts counted against one key (an account from one address, or one address)."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the key: no typed-in names kept
    failures: Mapped[int] = mapped_column(Integer)  # attempts not (yet) known to have succeeded
    last_attempt: Mapped[datetime] = mapped_column(DateTime, index=True)


class Assignment(Base):
    """An item handed to a reviewer, with the order its answers were shown in."""

    __tablename__ = "assignments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"), index=True)
    answer_order: Mapped[list] = mapped_column(JSON)  # answer positions, left to right
    created: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (UniqueConstraint("item_id", "reviewer_id"),)


class Judgement(Base):
    __tablename__ = "judgements"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"), index=True)
    preferred: Mapped[int | None] = mapped_column(Integer, nullable=True)  # answer position; None is a tie
    harmful: Mapped[bool] = mapped_column(Boolean, default=False)
    better_answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    answer_order: Mapped[list] = mapped_column(JSON)  # as shown to this reviewer
    # a form sent twice carries the same id and is stored once
    submission_id: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime, index=True)


class Rating(Base):
    __tablename__ = "ratings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    judgement_id: Mapped[int] = mapped_column(ForeignKey("judgements.id"), index=True)
    answer_position: Mapped[int] = mapped_column(Integer)
    helpfulness: Mapped[int | None] = mapped_column(Integer, nullable=True)
    accuracy: Mapped[int | None] = mapped_column(Integer, nullable=True)
    safety: Mapped[int | None] = mapped_column(Integer, nullable=True)
    __table_args__ = (
        UniqueConstraint("judgement_id", "answer_position"),
        *(CheckConstraint(f"{aspect} BETWEEN 1 AND 5", name=f"ck_ratings_{aspect}") for aspect in ASPECTS),
    )


class ServedResponse(Base):
    __tablename__ = "served_responses"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # the response id the endpoint returned
    model: Mapped[str] = mapped_column(String(200), default="")
    prompt: Mapped[list] = mapped_column(JSON)
    answers: Mapped[list] = mapped_column(JSON)  # [{"text", "source"}]
    created: Mapped[datetime] = mapped_column(DateTime)
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)  # API key fingerprint


class ServedFeedback(Base):
    __tablename__ = "served_feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    response_id: Mapped[str] = mapped_column(ForeignKey("served_responses.id"), index=True)
    thumbs: Mapped[str | None] = mapped_column(String(4), nullable=True)
    preferred: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime, index=True)
    __table_args__ = (CheckConstraint("thumbs IN ('up', 'down')", name="ck_served_feedback_thumbs"),)


class Setting(Base):
    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# ---- what the API takes and returns ------------------------------------------------------


@dataclass
class NewItem:
    prompt: list[dict[str, Any]]
    answers: list[Answer]
    gold: int | None = None  # a gold item: the index of its known better answer (checks reviewers)


@dataclass
class NewJudgement:
    item_id: str
    reviewer: str
    preferred: int | None  # answer position (as imported), None for a tie
    ratings: dict[int, dict[str, int]] = field(default_factory=dict)  # answer position -> {aspect: 1..5}
    harmful: bool = False
    better_answer: str | None = None
    seconds: float | None = None
    submission_id: str | None = None  # a resubmitted form with the same id is stored once


@dataclass
class ShownAnswer:
    position: int  # the answer's index in the item (what a judgement names)
    text: str


@dataclass
class ItemView:
    """An item as one reviewer sees it: answers in that reviewer's order, sources hidden."""

    item_id: str
    campaign: str
    prompt: list[dict[str, Any]]
    answers: list[ShownAnswer]
    previous: dict[str, Any] | None = None  # this reviewer's latest judgement, when revisiting


@dataclass
class ReviewerAccount:
    name: str
    is_admin: bool
    session_epoch: int = 0  # sessions issued in an older epoch are revoked


@dataclass(frozen=True)
class LoginBackoff:
    """How long a throttle key waits after failures: nothing for the first ``free_failures``, then
    ``first_wait`` seconds, doubling with each further failure up to ``max_wait``. A key unused for
    ``forget_after`` seconds starts afresh."""

    free_failures: int = 3
    first_wait: float = 1.0
    max_wait: float = 300.0
    forget_after: float = 3600.0

    def wait(self, failures: int) -> float:
        if failures < self.free_failures:
            return 0.0
        doublings = min(failures - self.free_failures, 60)  # 2**60 s is past any cap; keeps the float finite
        return min(self.max_wait, self.first_wait * 2.0 ** doublings)


@dataclass
class CampaignProgress:
    name: str
    description: str
    judgements_per_item: int
    items: int
    complete_items: int  # items with judgements_per_item independent judgements
    judgements: int  # latest judgement per item and reviewer
    per_reviewer: dict[str, int]


@dataclass
class Agreement:
    """Agreement on the preferred answer (tie is a category of its own)."""

    fleiss: float | None  # over items with judgements_per_item judgements (first reviewers), None below 2
    fleiss_items: int
    cohen: list[tuple[str, str, int, float]]  # (reviewer, reviewer, shared items, kappa) per pair sharing items


# ---- the store ----------------------------------------------------------------------------


class FeedbackStore:
    """Every read and write of human and served-model feedback; each method is one transaction."""

    def __init__(self, url: str = DEFAULT_URL, *, lease_minutes: float = 30.0):
        self.url = normalise_url(url)
        self.lease = timedelta(minutes=lease_minutes)  # how long an unanswered assignment holds its slot
        self.engine = _make_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        try:
            self._migrate()
        except OperationalError as error:
            raise UserError(f"cannot open the feedback database {self.display_url}: {_first_line(error)}") from None

    @property
    def display_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    def _migrate(self) -> None:
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":  # two servers starting at once migrate one after the other
                connection.execute(text("SELECT pg_advisory_xact_lock(727274)"))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def _session(self) -> Session:
        return self._sessions()

    # ---- campaigns and items ----

    def create_campaign(self, name: str, *, judgements_per_item: int = 2, description: str = "",
                        seed: int | None = None) -> None:
        _check_name(name, "campaign name")
        if judgements_per_item < 1:
            raise UserError(f"judgements per item must be at least 1, got {judgements_per_item}")
        with self._session() as session, session.begin():
            if session.scalar(select(Campaign.id).where(Campaign.name == name)) is not None:
                raise UserError(f"campaign '{name}' already exists")
            session.add(Campaign(name=name, description=description, judgements_per_item=judgements_per_item,
                                 seed=secrets.randbelow(2**31) if seed is None else seed, created=_now()))

    def add_items(self, campaign: str, items: list[NewItem]) -> list[str]:
        """Append items to ``campaign``; returns their ids (``<campaign>-<position>``)."""
        for index, item in enumerate(items):
            if len(item.answers) < 2:
                raise UserError(f"item {index + 1} has {len(item.answers)} answer(s); a comparison needs at least 2")
            if not item.prompt:
                raise UserError(f"item {index + 1} has an empty prompt")
            if item.gold is not None and not 0 <= item.gold < len(item.answers):
                raise UserError(f"item {index + 1} has gold={item.gold}, not an index into its {len(item.answers)} answers")
        with self._session() as session, session.begin():
            row = self._campaign(session, campaign, lock=True)
            start = (session.scalar(select(func.max(Item.position)).where(Item.campaign_id == row.id)) or 0) + 1
            ids = []
            for position, item in enumerate(items, start):
                item_id = f"{campaign}-{position}"
                session.add(Item(id=item_id, campaign_id=row.id, position=position, prompt=item.prompt, created=_now(),
                                 gold=item.gold))
                session.add_all(ItemAnswer(item_id=item_id, position=index, text=answer.text, source=answer.source)
                                for index, answer in enumerate(item.answers))
                ids.append(item_id)
            return ids

    def campaign_names(self) -> list[str]:
        with self._session() as session:
            return list(session.scalars(select(Campaign.name).order_by(Campaign.created, Campaign.id)))

    # ---- reviewers ----

    def add_reviewer(self, name: str, password: str, *, admin: bool = False) -> None:
        """Create an account; the password is stored as an Argon2id hash."""
        _check_name(name, "reviewer name")
        if len(password) < 8:
            raise UserError("a password needs at least 8 characters")
        password_hash = _hasher().hash(password)  # slow on purpose: outside the transaction
        with self._session() as session, session.begin():
            if session.scalar(select(Reviewer.id).where(Reviewer.name == name)) is not None:
                raise UserError(f"reviewer '{name}' already exists")
            session.add(Reviewer(name=name, password_hash=password_hash, is_admin=admin, created=_now()))

    def authenticate(self, name: str, password: str) -> ReviewerAccount | None:
        """The account when ``password`` is right, else None (the same work is done for unknown names)."""
        from argon2.exceptions import InvalidHashError, VerificationError

        with self._session() as session:
            row = session.scalar(select(Reviewer).where(Reviewer.name == name))
        stored = row.password_hash if row else _dummy_hash()
        try:
            _hasher().verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        return _account(row) if row else None

    def account(self, name: str) -> ReviewerAccount | None:
        with self._session() as session:
            row = session.scalar(select(Reviewer).where(Reviewer.name == name))
            return _account(row) if row else None

    def set_password(self, name: str, password: str) -> None:
        """Replace ``name``'s password and end every session of theirs (NotFoundError for an unknown name)."""
        if len(password) < 8:
            raise UserError("a password needs at least 8 characters")
        password_hash = _hasher().hash(password)  # slow on purpose: outside the transaction
        with self._session() as session, session.begin():
            changed = session.execute(update(Reviewer).where(Reviewer.name == name).values(
                password_hash=password_hash, session_epoch=Reviewer.session_epoch + 1)).rowcount
        if not changed:
            raise NotFoundError(f"no reviewer '{name}'")

    def end_sessions(self, name: str) -> None:
        """Revoke every session of ``name`` (logout): their cookies, and any copies, stop working."""
        with self._session() as session, session.begin():
            session.execute(update(Reviewer).where(Reviewer.name == name)
                            .values(session_epoch=Reviewer.session_epoch + 1))

    # ---- login throttling ----

    def count_login_attempt(self, limits: dict[str, LoginBackoff], now: datetime | None = None) -> float:
        """Count one login attempt against every key of ``limits`` before its password is checked.

        Returns 0.0 when the attempt was counted (go ahead and check it), else the seconds until the
        slowest key may try again, and nothing is counted. One transaction reads and writes every
        key (SQLite takes the write lock at BEGIN, PostgreSQL locks the rows), so concurrent attempts
        are counted one after the other: a burst can never get more checks than the keys allow.
        """
        now = now or _now()
        with self._session() as session, session.begin():
            oldest = now - timedelta(seconds=max(backoff.forget_after for backoff in limits.values()))
            session.execute(delete(LoginThrottle).where(LoginThrottle.last_attempt < oldest))  # stale keys
            insert = (sqlite_insert if session.bind.dialect.name == "sqlite" else postgresql_insert)(LoginThrottle)
            session.execute(insert.values([{"key": key, "failures": 0, "last_attempt": now} for key in sorted(limits)])
                            .on_conflict_do_nothing(index_elements=["key"]))
            rows = session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(list(limits)))
                                   .order_by(LoginThrottle.key).with_for_update()).all()
            wait = 0.0
            for row in rows:
                backoff = limits[row.key]
                if (now - row.last_attempt).total_seconds() > backoff.forget_after:
                    row.failures = 0
                # No wait owed: go ahead even when a concurrent attempt, whose clock read came later,
                # committed a last_attempt a moment after this attempt's ``now``.
                if backoff.wait(row.failures) > 0:
                    ready = row.last_attempt + timedelta(seconds=backoff.wait(row.failures))
                    wait = max(wait, (ready - now).total_seconds())
            if wait > 0:
                return wait
            for row in rows:
                row.failures += 1
                row.last_attempt = max(row.last_attempt, now)
            return 0.0

    def uncount_login_attempt(self, keys: list[str], *, forget: tuple[str, ...] = ()) -> None:
        """Take back an attempt that was not a failure: keys in ``forget`` start afresh, the others lose one."""
        with self._session() as session, session.begin():
            if forget:
                session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(forget)))
            rest = [key for key in keys if key not in forget]
            if rest:
                session.execute(update(LoginThrottle).where(LoginThrottle.key.in_(rest), LoginThrottle.failures > 0)
                                .values(failures=LoginThrottle.failures - 1))

    # ---- assignment and judging ----

    def next_item(self, campaign: str, reviewer: str) -> ItemView | None:
        """The item ``reviewer`` should judge next in ``campaign``, or None when nothing is left for them.

        An unanswered assignment of theirs comes first. Otherwise a new item is assigned: one they have
        not seen and that holds fewer than ``judgements_per_item`` claims (judged, or assigned within the
        lease), preferring items closest to complete. The answers are shuffled for this reviewer and the
        order is recorded with the assignment.
        """
        with self._session() as session, session.begin():
            row = self._campaign(session, campaign, lock=True)  # serialises assignment within a campaign
            reviewer_id = self._reviewer_id(session, reviewer)
            open_item = session.scalar(
                select(Assignment.item_id).join(Item, Item.id == Assignment.item_id)
                .where(Item.campaign_id == row.id, Assignment.reviewer_id == reviewer_id, ~_judged())
                .order_by(Item.position).limit(1))
            if open_item is None:
                open_item = session.scalar(self._candidates(session, row, reviewer_id).limit(1))
                if open_item is None:
                    return None
                positions = list(session.scalars(select(ItemAnswer.position).where(ItemAnswer.item_id == open_item)
                                                 .order_by(ItemAnswer.position)))
                random.Random(f"{row.seed}:{open_item}:{reviewer}").shuffle(positions)
                session.add(Assignment(item_id=open_item, reviewer_id=reviewer_id, answer_order=positions,
                                       created=_now()))
            return self._item_view(session, row.name, open_item, reviewer_id)

    def item_for(self, campaign: str, item_id: str, reviewer: str) -> ItemView:
        """An item already assigned to ``reviewer`` (to revisit it); UserError otherwise."""
        with self._session() as session:
            self._assigned(session, campaign, item_id, reviewer)
            return self._item_view(session, campaign, item_id, self._reviewer_id(session, reviewer))

    def add_judgement(self, judgement: NewJudgement) -> bool:
        """Store a judgement as a new row; False when its ``submission_id`` was already stored."""
        with self._session() as session, session.begin():
            assignment = self._assigned(session, None, judgement.item_id, judgement.reviewer)
            count = session.scalar(select(func.count()).select_from(ItemAnswer)
                                   .where(ItemAnswer.item_id == judgement.item_id))
            _validate_judgement(judgement, count)
            if judgement.submission_id and session.scalar(
                    select(Judgement.id).where(Judgement.submission_id == judgement.submission_id)) is not None:
                return False
            row = Judgement(item_id=judgement.item_id, reviewer_id=assignment.reviewer_id,
                            preferred=judgement.preferred, harmful=judgement.harmful,
                            better_answer=(judgement.better_answer or "").strip() or None,
                            seconds=judgement.seconds, answer_order=assignment.answer_order,
                            submission_id=judgement.submission_id or None, created=_now())
            session.add(row)
            session.flush()
            session.add_all(Rating(judgement_id=row.id, answer_position=position, **aspects)
                            for position, aspects in sorted(judgement.ratings.items()) if aspects)
            return True

    def reviewer_progress(self, campaign: str, reviewer: str) -> tuple[int, int]:
        """(items judged by ``reviewer``, items still open to them) in ``campaign``."""
        with self._session() as session:
            row = self._campaign(session, campaign)
            reviewer_id = self._reviewer_id(session, reviewer)
            done = session.scalar(
                select(func.count(func.distinct(Judgement.item_id))).join(Item, Item.id == Judgement.item_id)
                .where(Item.campaign_id == row.id, Judgement.reviewer_id == reviewer_id))
            open_assigned = session.scalar(
                select(func.count()).select_from(Assignment).join(Item, Item.id == Assignment.item_id)
                .where(Item.campaign_id == row.id, Assignment.reviewer_id == reviewer_id, ~_judged()))
            candidates = self._candidates(session, row, reviewer_id).subquery()
            available = session.scalar(select(func.count()).select_from(candidates))
            return done, open_assigned + available

    def _candidates(self, session: Session, campaign: Campaign, reviewer_id: int):
        """Item ids open to a new assignment for ``reviewer_id``, best first (a select of one column)."""
        claims = (select(Assignment.item_id, func.count().label("claims"))
                  .where(or_(_judged(), Assignment.created >= _now() - self.lease))
                  .group_by(Assignment.item_id).subquery())
        claimed = func.coalesce(claims.c.claims, 0)
        mine = select(Assignment.item_id).where(Assignment.reviewer_id == reviewer_id)
        return (select(Item.id).outerjoin(claims, claims.c.item_id == Item.id)
                .where(Item.campaign_id == campaign.id, Item.id.not_in(mine), claimed < campaign.judgements_per_item)
                .order_by(claimed.desc(), Item.position))

    def _item_view(self, session: Session, campaign: str, item_id: str, reviewer_id: int) -> ItemView:
        item = session.get(Item, item_id)
        order = session.scalar(select(Assignment.answer_order).where(Assignment.item_id == item_id,
                                                                      Assignment.reviewer_id == reviewer_id))
        texts = dict(session.execute(select(ItemAnswer.position, ItemAnswer.text)
                                     .where(ItemAnswer.item_id == item_id)).all())
        latest = session.scalar(select(Judgement)
                                .where(Judgement.item_id == item_id, Judgement.reviewer_id == reviewer_id)
                                .order_by(Judgement.created.desc(), Judgement.id.desc()).limit(1))
        previous = None
        if latest is not None:
            previous = {"preferred": latest.preferred, "harmful": latest.harmful, "better_answer": latest.better_answer,
                        "ratings": self._ratings(session, [latest.id]).get(latest.id, {})}
        shown = [ShownAnswer(position, texts[position]) for position in order]
        return ItemView(item_id, campaign, item.prompt, shown, previous)

    def _assigned(self, session: Session, campaign: str | None, item_id: str, reviewer: str) -> Assignment:
        reviewer_id = self._reviewer_id(session, reviewer)
        item = session.get(Item, item_id)
        if item is None or (campaign is not None and self._campaign(session, campaign).id != item.campaign_id):
            raise NotFoundError(f"no item '{item_id}'" + (f" in campaign '{campaign}'" if campaign else ""))
        assignment = session.scalar(select(Assignment).where(Assignment.item_id == item_id,
                                                             Assignment.reviewer_id == reviewer_id))
        if assignment is None:
            raise NotAssignedError(f"item '{item_id}' is not assigned to '{reviewer}'")
        return assignment

    def _campaign(self, session: Session, name: str, *, lock: bool = False) -> Campaign:
        query = select(Campaign).where(Campaign.name == name)
        row = session.scalar(query.with_for_update() if lock else query)
        if row is None:
            raise NotFoundError(f"no campaign '{name}'")
        return row

    def _reviewer_id(self, session: Session, name: str) -> int:
        reviewer_id = session.scalar(select(Reviewer.id).where(Reviewer.name == name))
        if reviewer_id is None:
            raise NotFoundError(f"no reviewer '{name}'")
        return reviewer_id

    # ---- progress and agreement ----

    def progress(self, campaign: str) -> CampaignProgress:
        with self._session() as session:
            row = self._campaign(session, campaign)
            items = session.scalar(select(func.count()).select_from(Item).where(Item.campaign_id == row.id))
            labels = self._latest_labels(session, row.id)
            per_reviewer: dict[str, int] = defaultdict(int)
            for by_reviewer in labels.values():
                for name in by_reviewer:
                    per_reviewer[name] += 1
            complete = sum(len(by_reviewer) >= row.judgements_per_item for by_reviewer in labels.values())
            return CampaignProgress(row.name, row.description, row.judgements_per_item, items, complete,
                                    sum(per_reviewer.values()), dict(sorted(per_reviewer.items())))

    def agreement(self, campaign: str) -> Agreement:
        """Fleiss' kappa over complete items, Cohen's kappa for every pair of reviewers sharing items."""
        with self._session() as session:
            row = self._campaign(session, campaign)
            labels = self._latest_labels(session, row.id)
        raters = max(row.judgements_per_item, 2)
        complete = [list(by_reviewer.values())[:raters]
                    for by_reviewer in labels.values() if len(by_reviewer) >= raters]
        shared: dict[tuple[str, str], tuple[list, list]] = defaultdict(lambda: ([], []))
        for by_reviewer in labels.values():
            names = sorted(by_reviewer)
            for index, first in enumerate(names):
                for second in names[index + 1:]:
                    shared[first, second][0].append(by_reviewer[first])
                    shared[first, second][1].append(by_reviewer[second])
        cohen = [(first, second, len(a), cohen_kappa(a, b)) for (first, second), (a, b) in sorted(shared.items())]
        return Agreement(fleiss_kappa(complete) if complete else None, len(complete), cohen)

    def _latest_labels(self, session: Session, campaign_id: int) -> dict[str, dict[str, int | None]]:
        """item id -> {reviewer: preferred} from each reviewer's latest judgement, reviewers in judging order."""
        rows = session.execute(
            select(Judgement.item_id, Reviewer.name, Judgement.preferred)
            .join(Item, Item.id == Judgement.item_id).join(Reviewer, Reviewer.id == Judgement.reviewer_id)
            .where(Item.campaign_id == campaign_id).order_by(Judgement.created, Judgement.id)).all()
        labels: dict[str, dict[str, int | None]] = defaultdict(dict)
        for item_id, name, preferred in rows:
            labels[item_id][name] = preferred  # a later judgement replaces the value, keeping the first position
        return labels

    # ---- served-model feedback ----

    def record_served(self, record: FeedbackRecord) -> None:
        """Store a served response (kind ``served``) under its response id, with any feedback it carries."""
        if record.kind != "served":
            raise UserError(f"record_served takes a 'served' record, got '{record.kind}'")
        with self._session() as session, session.begin():
            if session.get(ServedResponse, record.id) is not None:
                raise UserError(f"response '{record.id}' is already recorded")
            created = _parse_time(record.created) if record.created else _now()
            session.add(ServedResponse(id=record.id, model=record.model or "", prompt=record.prompt, created=created,
                                       answers=[answer.model_dump() for answer in record.answers],
                                       client=record.client))
            if record.thumbs is not None or record.preferred is not None:
                session.flush()
                session.add(ServedFeedback(response_id=record.id, thumbs=record.thumbs, preferred=record.preferred,
                                           created=created))

    def add_served_feedback(self, response_id: str, thumbs: str | None = None,
                            preferred: int | None = None) -> FeedbackRecord:
        """A user's thumbs (``"up"``/``"down"``, about the first answer) or choice between answers, as a new row.

        Returns the response's record with its latest feedback; an unknown id raises :class:`NotFoundError`
        (a ``UserError`` and a ``LookupError``).
        """
        if thumbs is None and preferred is None:
            raise UserError("feedback needs thumbs ('up' or 'down') or a preferred answer index")
        if thumbs not in (None, "up", "down"):
            raise UserError(f"thumbs must be 'up' or 'down', got {thumbs!r}")
        with self._session() as session, session.begin():
            response = session.get(ServedResponse, response_id)
            if response is None:
                raise NotFoundError(f"no served response with id '{response_id}'")
            if preferred is not None and not 0 <= preferred < len(response.answers):
                raise UserError(f"preferred={preferred} is not an index into the response's "
                                f"{len(response.answers)} answers")
            session.add(ServedFeedback(response_id=response_id, thumbs=thumbs, preferred=preferred, created=_now()))
            session.flush()
            return self._served_records(session, None, [response_id])[0]

    # ---- export ----

    def export_records(self, since: str | None = None, *, campaign: str | None = None) -> list[FeedbackRecord]:
        """Feedback created after ``since`` (ISO time; None: all), oldest first.

        Judgements: each reviewer's latest judgement per item, with record id ``<item id>:<reviewer>``
        so a later change of mind replaces the earlier one downstream (the last record of an id wins).
        Served responses: those with feedback, each with its latest thumbs and latest choice, dated by
        the latest feedback. ``campaign`` limits the export to that campaign's judgements.
        """
        cutoff = _parse_time(since) if since else None
        with self._session() as session:
            records = self._judgement_records(session, cutoff, campaign)
            if campaign is None:
                records += self._served_records(session, cutoff)
        records.sort(key=lambda record: record.created or "")
        return records

    def _judgement_records(self, session: Session, cutoff: datetime | None,
                           campaign: str | None) -> list[FeedbackRecord]:
        query = (select(Judgement, Item, Campaign.name, Reviewer.name)
                 .join(Item, Item.id == Judgement.item_id).join(Campaign, Campaign.id == Item.campaign_id)
                 .join(Reviewer, Reviewer.id == Judgement.reviewer_id).order_by(Judgement.created, Judgement.id))
        if campaign is not None:
            query = query.where(Campaign.id == self._campaign(session, campaign).id)
        latest: dict[tuple[str, str], tuple] = {}
        for row in session.execute(query).all():
            latest[row[1].id, row[3]] = tuple(row)
        chosen = [row for row in latest.values() if cutoff is None or row[0].created > cutoff]
        ratings = self._ratings(session, [row[0].id for row in chosen])
        answers: dict[str, list[Answer]] = defaultdict(list)
        item_ids = sorted({row[1].id for row in chosen})
        for start in range(0, len(item_ids), 500):
            for answer in session.scalars(select(ItemAnswer).where(ItemAnswer.item_id.in_(item_ids[start:start + 500]))
                                          .order_by(ItemAnswer.item_id, ItemAnswer.position)):
                answers[answer.item_id].append(Answer(text=answer.text, source=answer.source))
        records = []
        for judgement, item, campaign_name, reviewer in chosen:
            given = ratings.get(judgement.id)
            records.append(FeedbackRecord(
                kind="judgement", id=f"{item.id}:{reviewer}", item_id=item.id, campaign=campaign_name,
                reviewer=reviewer,
                prompt=item.prompt, answers=answers[item.id], preferred=judgement.preferred,
                ratings=[given.get(position, {}) for position in range(len(answers[item.id]))] if given else None,
                harmful=judgement.harmful, better_answer=judgement.better_answer, seconds=judgement.seconds,
                created=_iso(judgement.created), gold=item.gold))
        return records

    def _served_records(self, session: Session, cutoff: datetime | None,
                        response_ids: list[str] | None = None) -> list[FeedbackRecord]:
        latest: dict[str, dict[str, Any]] = {}
        query = select(ServedFeedback).order_by(ServedFeedback.created, ServedFeedback.id)
        if response_ids is not None:
            query = query.where(ServedFeedback.response_id.in_(response_ids))
        for feedback in session.scalars(query):
            state = latest.setdefault(feedback.response_id, {"thumbs": None, "preferred": None})
            state["thumbs"] = feedback.thumbs or state["thumbs"]
            state["preferred"] = feedback.preferred if feedback.preferred is not None else state["preferred"]
            state["created"] = feedback.created
        wanted = [response_id for response_id, state in latest.items() if cutoff is None or state["created"] > cutoff]
        records = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            for response in session.scalars(select(ServedResponse).where(ServedResponse.id.in_(chunk))):
                state = latest[response.id]
                records.append(FeedbackRecord(
                    kind="served", id=response.id, model=response.model or None, prompt=response.prompt,
                    answers=[Answer.model_validate(answer) for answer in response.answers], thumbs=state["thumbs"],
                    preferred=state["preferred"], created=_iso(state["created"]), client=response.client))
        return records

    def _ratings(self, session: Session, judgement_ids: list[int]) -> dict[int, dict[int, dict[str, int]]]:
        """judgement id -> answer position -> {aspect: rating} (aspects left unrated are absent)."""
        found: dict[int, dict[int, dict[str, int]]] = defaultdict(dict)
        for start in range(0, len(judgement_ids), 500):
            chunk = judgement_ids[start:start + 500]
            for rating in session.scalars(select(Rating).where(Rating.judgement_id.in_(chunk))):
                aspects = {aspect: getattr(rating, aspect) for aspect in ASPECTS if getattr(rating, aspect) is not None}
                found[rating.judgement_id][rating.answer_position] = aspects
        return found

    # ---- settings ----

    def session_secret(self) -> str:
        """The key that signs the web app's session cookies, made once and kept, so restarts keep sessions."""
        try:
            with self._session() as session, session.begin():
                value = session.scalar(select(Setting.value).where(Setting.key == "session_secret"))
                if value is None:
                    value = secrets.token_urlsafe(48)
                    session.add(Setting(key="session_secret", value=value))
            return value
        except IntegrityError:  # another server made it first (PostgreSQL); use theirs
            with self._session() as session:
                return session.scalar(select(Setting.value).where(Setting.key == "session_secret"))


def export_jsonl(records: list[FeedbackRecord], format: str) -> str:
    """JSONL text of ``records`` as feedback records, or as one of the trainers' formats via ``to_training_rows``."""
    if format not in EXPORT_FORMATS:
        raise UserError(f"unknown export format {format!r}; choose one of: {', '.join(EXPORT_FORMATS)}")
    if format == "records":
        return "".join(record_line(record) + "\n" for record in records)
    rows = getattr(to_training_rows(records), format)
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


# ---- helpers -------------------------------------------------------------------------------


def normalise_url(url: str) -> str:
    """``url`` with the psycopg (3) driver chosen for a bare ``postgresql://``/``postgres://`` scheme."""
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url[len(bare):]
    return url


def _make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UserError(f"not a database URL: {url!r} "
                        "(e.g. sqlite:///feedback.db or postgresql://user@host/db)") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise UserError("the feedback store supports sqlite:// and postgresql:// URLs, "
                        f"got {parsed.get_backend_name()}://")
    if parsed.get_backend_name() == "postgresql":
        try:
            return create_engine(parsed, pool_pre_ping=True)
        except ModuleNotFoundError as error:
            raise UserError(f"PostgreSQL needs its driver: pip install 'psycopg[binary]' ({error})") from None
    memory = parsed.database in (None, "", ":memory:")
    if not memory:
        # Password hashes and the session key live here: the file is the owner's alone, made so before
        # SQLite opens it (SQLite gives its -wal and -shm files the database file's permissions).
        database = Path(parsed.database)
        try:
            ensure_private_file(database)
            for suffix in ("-wal", "-shm", "-journal"):
                tighten_if_present(database.with_name(database.name + suffix))
        except OSError as error:
            raise UserError(f"cannot open the feedback database {database}: {error.strerror}") from None
    engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30},
                           **({"poolclass": StaticPool} if memory else {}))

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record) -> None:
        # Let SQLAlchemy's "begin" event own the transactions (the driver would otherwise BEGIN lazily).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor the writer them
        cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged judgement survives a power cut too
        cursor.execute("PRAGMA busy_timeout=30000")  # concurrent writers wait for the lock instead of failing
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        # Take the write lock up front: a read-then-write transaction that upgrades later can fail with
        # SQLITE_BUSY without waiting, and assignment (read claims, then insert) must not interleave.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _validate_judgement(judgement: NewJudgement, answers: int) -> None:
    if judgement.preferred is not None and not 0 <= judgement.preferred < answers:
        raise UserError(f"preferred={judgement.preferred} is not one of the item's {answers} answers")
    for position, aspects in judgement.ratings.items():
        if not 0 <= position < answers:
            raise UserError(f"a rating names answer {position}, but the item has {answers} answers")
        for aspect, value in aspects.items():
            if aspect not in ASPECTS:
                raise UserError(f"unknown rating '{aspect}'; rate one of: {', '.join(ASPECTS)}")
            if not isinstance(value, int) or not 1 <= value <= 5:
                raise UserError(f"the {aspect} rating must be a whole number from 1 to 5, got {value!r}")
    if judgement.seconds is not None and judgement.seconds < 0:
        raise UserError(f"time taken cannot be negative, got {judgement.seconds}")
    if judgement.better_answer is not None and len(judgement.better_answer) > 100_000:
        raise UserError("the written answer is longer than 100,000 characters")


def _judged():
    """Whether an assignment's reviewer has judged its item (a correlated EXISTS on ``Assignment``)."""
    return exists().where(Judgement.item_id == Assignment.item_id, Judgement.reviewer_id == Assignment.reviewer_id)


def _account(row: Reviewer) -> ReviewerAccount:
    return ReviewerAccount(row.name, row.is_admin, row.session_epoch)


def _check_name(name: str, what: str) -> None:
    if not _NAME.match(name):
        raise UserError(f"{what} {name!r} must be 1-64 letters, digits, '.', '_' or '-', "
                        "starting with a letter or digit")


_HASHER_LOCK = threading.Lock()
_HASHER: dict[str, Any] = {}


def _hasher():
    from argon2 import PasswordHasher

    with _HASHER_LOCK:
        if "hasher" not in _HASHER:
            _HASHER["hasher"] = PasswordHasher()
            _HASHER["dummy"] = _HASHER["hasher"].hash(secrets.token_urlsafe(16))
        return _HASHER["hasher"]


def _dummy_hash() -> str:
    _hasher()
    return _HASHER["dummy"]


def _now() -> datetime:
    """Now, in UTC without tzinfo: the form every database column here holds."""
    return datetime.now(UTC).replace(tzinfo=None)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds") + "Z"


def _parse_time(stamp: str) -> datetime:
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        raise UserError(f"not an ISO time: {stamp!r} (e.g. 2026-11-23T12:00:00Z)") from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _first_line(error: Exception) -> str:
    return str(getattr(error, "orig", error)).strip().splitlines()[0]
