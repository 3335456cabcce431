"""Make the audit tables append-only on PostgreSQL.

A BEFORE UPDATE OR DELETE row trigger on the entries, their seals and the pruning
checkpoints raises an exception unless the transaction opted in with
`SET LOCAL watchstander.audit_maintenance = 'on'`, which only the prune command does.

Consequences worth knowing:
- Deleting a user who is an audit actor is refused too (the actor foreign key is SET_NULL,
  which is an UPDATE). Deactivate users instead of deleting them.
- TRUNCATE is deliberately NOT blocked: Django's test flush (TransactionTestCase, pytest-django
  `transactional_db`) empties tables with TRUNCATE. Truncating is an administrator's act that
  also empties the seals, and an export's recorded chain head then no longer verifies.

On other databases (SQLite for a first run) this migration does nothing.
"""

from typing import Any

from django.db import migrations

TABLES = ["incidents_auditentry", "incidents_auditseal", "incidents_auditcheckpoint"]

FUNCTION = """
CREATE OR REPLACE FUNCTION watchstander_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('watchstander.audit_maintenance', true), '') = 'on' THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING HINT = 'Deactivate users instead of deleting them; prune with prune_audit_log.';
END;
$$ LANGUAGE plpgsql;
"""

TRIGGER = """
CREATE TRIGGER {table}_append_only
    BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION watchstander_audit_append_only();
"""

DROP_TRIGGER = "DROP TRIGGER IF EXISTS {table}_append_only ON {table};"


# django-auditlog's own migration creates `auditlog_logentry` even though our entry model
# replaces it (AUDITLOG_LOGENTRY_MODEL), with foreign keys to auth_user and
# django_content_type. Django leaves swapped-out tables out of its flush, so PostgreSQL refused
# the flush's TRUNCATE of those two tables ("cannot truncate a table referenced in a foreign
# key constraint") and every transactional test failed on teardown. The table is never
# written; its foreign keys go, the table stays for auditlog's later migrations.
DROP_UNUSED_LOGENTRY_FOREIGN_KEYS = """
DO $$
DECLARE fk record;
BEGIN
    IF to_regclass('auditlog_logentry') IS NULL THEN
        RETURN;
    END IF;
    FOR fk IN
        SELECT conname FROM pg_constraint
        WHERE conrelid = 'auditlog_logentry'::regclass AND contype = 'f'
    LOOP
        EXECUTE format('ALTER TABLE auditlog_logentry DROP CONSTRAINT %I', fk.conname);
    END LOOP;
END;
$$;
"""


class PostgresOnlySQL(migrations.RunSQL):
    """RunSQL that is a no-op on databases other than PostgreSQL."""

    def database_forwards(self, app_label: str, schema_editor: Any, *args: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, *args)

    def database_backwards(self, app_label: str, schema_editor: Any, *args: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, *args)


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0002_auditcheckpoint_auditseal_auditentry_auditexport_and_more"),
        ("auditlog", "0017_add_actor_email"),
    ]

    operations = [
        PostgresOnlySQL(
            sql=[FUNCTION, *(TRIGGER.format(table=table) for table in TABLES)],
            reverse_sql=[
                *(DROP_TRIGGER.format(table=table) for table in TABLES),
                "DROP FUNCTION IF EXISTS watchstander_audit_append_only();",
            ],
        ),
        PostgresOnlySQL(sql=DROP_UNUSED_LOGENTRY_FOREIGN_KEYS, reverse_sql=migrations.RunSQL.noop),
    ]
