"""Team-based access: django-guardian object permissions derived from team membership.

Each team has a managers group and a responders group. Every team-scoped object (the team,
its services, integrations, policies, incidents...) gets object permissions for those two
groups when it is created; membership puts people in the groups. Moving a person between teams
is therefore one membership change, and nothing is copied per person.

When an object changes team (a service handed to another team, an integration moved to another
service), its team-derived permissions move with it: the other teams' groups lose theirs and
the new team's groups get them, on the object and on its dependants (a service's integrations
and incidents). Grants and revocations are written in bulk and announced with
`team_permissions_changed`, which the audit trail records as one entry per change.

An object that other objects still rely on may not change team while they do (a policy that
another team's services escalate through, a schedule that another team's levels page): the
new team would decide who the old team's incidents page. Apps say what forbids a move with
`register_move_guard`, and every path that can move an object (admin forms, API serializers)
asks `move_refusal` first and shows its reason.

Apps declare their team-scoped models and move guards in AppConfig.ready() with
`register_team_scoped` and `register_move_guard`; this package imports nothing from the apps
above it.
"""

from schedules.access.announcements import GRANT, REVOKE, PermissionChange, team_permissions_changed
from schedules.access.checks import can, managed_teams, team_members, visible
from schedules.access.delete_guards import DeleteGuard, delete_blockers, register_delete_guard
from schedules.access.grants import (
    ensure_team_groups,
    forget_cached_permissions,
    grant_team_permissions,
    group_permission_model,
    perm_name,
)

# Imported for its receivers too: membership changes are followed from the moment this package
# is imported, as they always were (their dispatch_uids keep them connected once).
from schedules.access.membership import sync_user_groups
from schedules.access.move_guards import MoveGuard, move_refusal, register_move_guard
from schedules.access.moves import move_team_permissions
from schedules.access.registration import MANAGER_CAN, RESPONDER_CAN, register_team_scoped
from schedules.access.registry import (
    Dependants,
    Role,
    TeamScoped,
    registered_models,
    team_link,
    team_of,
)
from schedules.access.role_groups import (
    AUDITORS_GROUP,
    MANAGERS_GROUP,
    ensure_role_groups,
    role_group,
)

__all__ = [
    "AUDITORS_GROUP",
    "GRANT",
    "MANAGERS_GROUP",
    "MANAGER_CAN",
    "RESPONDER_CAN",
    "REVOKE",
    "DeleteGuard",
    "Dependants",
    "MoveGuard",
    "PermissionChange",
    "Role",
    "TeamScoped",
    "can",
    "delete_blockers",
    "ensure_role_groups",
    "ensure_team_groups",
    "forget_cached_permissions",
    "grant_team_permissions",
    "group_permission_model",
    "managed_teams",
    "move_refusal",
    "move_team_permissions",
    "perm_name",
    "register_delete_guard",
    "register_move_guard",
    "register_team_scoped",
    "registered_models",
    "role_group",
    "sync_user_groups",
    "team_link",
    "team_members",
    "team_of",
    "team_permissions_changed",
    "visible",
]
