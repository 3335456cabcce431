"""Shared helpers for the audit trail tests."""

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from incidents.audit.actors import record_event
from incidents.audit.models import AuditEntry

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL triggers and locks are under test"
)


@pytest.fixture(autouse=True)
def seal_at_once(settings: Any) -> None:
    """Seal entries as soon as they exist (tests that exercise the settle time set it back)."""
    settings.AUDIT_SEAL_SETTLE_SECONDS = 0


@contextlib.contextmanager
def maintenance() -> Iterator[None]:
    """What an attacker with database access (or the prune command) does on PostgreSQL to get
    past the append-only triggers; nothing is needed on SQLite."""
    postgres = connection.vendor == "postgresql"
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL watchstander.audit_maintenance = 'on'")
    try:
        yield
    finally:
        if postgres:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL watchstander.audit_maintenance = 'off'")


@pytest.fixture
def empty_log(db: None) -> None:
    """No audit entries: not even those written while migrating the test database (which
    would otherwise be the start of every test's chain)."""
    with maintenance():
        AuditEntry.objects.all().delete()


def make_entries(count: int, event: str = "test") -> list[AuditEntry]:
    return [record_event(event, message=f"Test event {n}", data={"n": n}) for n in range(count)]
