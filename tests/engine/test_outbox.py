"""Outbox: e-mail through a real (local) SMTP server, retries with backoff, failures visible, never doubled."""
from __future__ import annotations

import email
import socketserver
import threading
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, func, update, select

from app.core.clock import now
from app.extensions import db
from app.models import Notification, OutboxMessage, User
from app.core import clock
from app.services import notifications, outbox
from app.services.worker import sweep
from tests.support.constants import T0


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) to accept mail the way a relay would."""

    def reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self):
        self.reply("220 localhost test SMTP")
        data_lines, in_data = [], False
        for raw in self.rfile:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if in_data:
                if line == ".":
                    in_data = False
                    self.server.messages.append(email.message_from_string("\n".join(data_lines)))
                    data_lines = []
                    self.reply("250 queued")
                else:
                    data_lines.append(line[1:] if line.startswith("..") else line)
                continue
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 localhost")
            elif verb == "DATA":
                in_data = True
                self.reply("354 end with .")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


@pytest.fixture()
def smtp(app):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.daemon_threads = True
    server.messages = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.server_address[1])
    yield server
    app.config.update(MAIL_SERVER="", MAIL_PORT=25)
    server.shutdown()
    server.server_close()


@contextmanager
def sent_statements():
    """The SQL statements sent inside the block."""
    seen: list[str] = []

    def listen(conn, cursor, statement, *rest):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)


def give_email(username: str, address: str) -> User:
    user = db.session.scalar(select(User).where(User.username == username))
    user.email = address
    db.session.commit()
    return user


def test_notification_is_mailed_once(seeded, smtp):
    user = give_email("intake1", "intake1@xinyong.example")
    count = notifications.notify(user.unit_id, "intake", kind="new_task", title="新待办：受理审查", body="办件 YY-1")
    db.session.commit()
    assert count == 1
    assert db.session.scalar(select(Notification).where(Notification.user_id == user.id,
                                                        Notification.body == "办件 YY-1")).read_at is None
    assert sweep().delivered == 1
    assert sweep().delivered == 0  # delivered rows are never sent again
    [mail] = smtp.messages
    assert mail["To"] == "intake1@xinyong.example" and "受理审查" in str(email.header.make_header(
        email.header.decode_header(mail["Subject"])))
    assert "email.notification" in mail["Message-ID"]


def test_retry_with_backoff_then_failed_and_visible(seeded, app):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=9)  # nothing listens on the discard port
    give_email("intake1", "intake1@xinyong.example")
    user = db.session.scalar(select(User).where(User.username == "intake1"))
    # The demo's registrations queued their publish pushes; this test is about one mail alone.
    db.session.execute(update(OutboxMessage).values(status="delivered", delivered_at=now()))
    notifications.notify(user.unit_id, "intake", kind="overdue", title="超期")
    db.session.commit()
    try:
        assert sweep().retried == 1
        message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind != "push"))
        assert message.status == "pending" and message.attempts == 1 and "Error" in message.last_error
        assert message.next_attempt_at == T0 + timedelta(minutes=1)
        assert sweep().retried == 0  # not due again yet
        for attempt in range(2, app.config["OUTBOX_MAX_ATTEMPTS"] + 1):
            clock.set_frozen(clock.now() + outbox.backoff(attempt - 1) + timedelta(seconds=1))
            sweep()
        db.session.expire_all()
        message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind != "push"))
        assert message.status == "failed" and message.attempts == app.config["OUTBOX_MAX_ATTEMPTS"]
        assert outbox.retry_failed(message.id)
        db.session.commit()
        assert db.session.get(OutboxMessage, message.id).status == "pending"
    finally:
        app.config.update(MAIL_SERVER="", MAIL_PORT=25)


def test_same_key_is_one_message(app):
    outbox.enqueue("push", "push:record:1:case:1", {"action": "update"})
    outbox.enqueue("push", "push:record:1:case:1", {"action": "update"})
    db.session.commit()
    assert len(db.session.scalars(select(OutboxMessage)).all()) == 1


def test_a_claimed_message_is_not_claimed_twice_until_its_lease_expires(app):
    outbox.enqueue("push", "push:x", {"action": "update"})
    db.session.commit()
    message_id = db.session.scalar(select(OutboxMessage.id))
    assert outbox.claim(message_id) is True
    assert outbox.claim(message_id) is False  # a second worker loses
    clock.set_frozen(T0 + outbox.CLAIM_LEASE + timedelta(seconds=1))  # the first worker died
    assert outbox.claim(message_id) is True


def notify_office(to_intake: str, to_approver: str, body: str) -> tuple[int, list[str]]:
    """One notify_many call to the credit office's intake and approver roles, committed, with the outbox emptied of
    what came before: (notifications made, the SQL statements it sent)."""
    office = db.session.scalar(select(User.unit_id).where(User.username == "approver1"))
    db.session.execute(update(OutboxMessage).values(status="delivered", delivered_at=now()))
    with sent_statements() as seen:
        count = notifications.notify_many([
            notifications.Message(office, "intake", "overdue", to_intake, body),
            notifications.Message(office, "approver", "overdue", to_approver, body)])
    db.session.commit()
    return count, seen


def test_with_mail_each_recipient_with_an_address_gets_one_mail_keyed_by_its_own_notification(seeded, app):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=9)
    try:
        approver = give_email("approver1", "approver1@xinyong.example")
        intake = db.session.scalar(select(User).where(User.username == "intake1"))
        intake.email = None  # an account without an address: in-app only
        count, seen = notify_office("超期：受理审查", "超期：审批", "办件 YY-2")
        # PostgreSQL: the rows in one INSERT (their ids back in order), the mail in one more. SQLite's driver gives
        # RETURNING in no set order, so SQLAlchemy inserts those rows one by one there (in-process, no round trip).
        rows = 1 if db.engine.dialect.name == "postgresql" else 2
        assert [sql.split(" (")[0] for sql in seen if sql.startswith("INSERT")] == [
            *["INSERT INTO notification"] * rows, "INSERT INTO outbox"]
        made = {row.user_id: row for row in db.session.scalars(
            select(Notification).where(Notification.body == "办件 YY-2"))}
        assert count == 2 and set(made) == {intake.id, approver.id}
        assert made[approver.id].title == "超期：审批" and made[intake.id].title == "超期：受理审查"
        mails = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email",
                                                               OutboxMessage.status == "pending")).all()
        assert [(m.idempotency_key, m.payload["to"]) for m in mails] == [
            (f"email:notification:{made[approver.id].id}", "approver1@xinyong.example")]
    finally:
        app.config.update(MAIL_SERVER="", MAIL_PORT=25)


def test_without_mail_a_call_s_notifications_are_one_insert_and_queue_no_mail(seeded):
    give_email("approver1", "approver1@xinyong.example")
    count, seen = notify_office("甲", "乙", "办件 YY-3")
    assert count == 2
    assert len([sql for sql in seen if sql.startswith("INSERT INTO notification")]) == 1
    made = select(func.count()).select_from(Notification).where(Notification.body == "办件 YY-3")
    assert db.session.scalar(made) == 2
    assert not db.session.scalars(select(OutboxMessage).where(OutboxMessage.status == "pending")).all()
