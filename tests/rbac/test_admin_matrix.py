"""The admin's permission matrix, generated from `admin.site._registry`: every admin URL (stock
pages, guardian's object-permission pages, auditlog's history, custom views such as
acknowledge/resolve, django-rq's dashboard) x every persona x an object of team B.

Expected: refused or filtered, never shown or changed. A new admin page is covered as soon as
it is registered; a URL parameter the matrix does not know how to fill fails loudly. Each
refusal has a positive control (the superuser's same request works), so a payload that could
never have succeeded cannot make a refusal look good.
"""

import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, models
from django.forms.models import _get_foreign_key
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, reverse
from django.utils import timezone
from django_rq import get_connection, get_queue
from django_rq.settings import get_queues_map

from escalation.models import ContactMethod, EscalationLevel, EscalationPolicy, NotificationRule
from incidents.models import (
    Alert,
    AuditEntry,
    AuditExport,
    Incident,
    Integration,
    Notification,
    Service,
)
from incidents.services.scheduling import (
    ESCALATION_QUEUE,
    NOTIFICATION_QUEUE,
    schedule_delivery,
    schedule_escalation_step,
)
from schedules.access import registered_models
from schedules.models import Override, Rotation, RotationParticipant, Schedule, Team, TeamMembership
from tests.factories import add_level, make_integration
from tests.rbac.conftest import (
    MARKER,
    NON_SUPERUSERS,
    PERSONAS,
    TEAM_MEMBERS_ELSEWHERE,
    TeamWorld,
    World,
    changed_tables,
    db_state,
    join,
    make_user,
    mentions_team_b,
    open_incident,
)

pytestmark = pytest.mark.django_db

User = get_user_model()
Role = TeamMembership.Role
REFUSED = {302, 403, 404, 405}
# What the auditor reads: these answer 200 wherever the auditor holds the model's view perm.
READ_KINDS = {"changelist", "change", "history", "auditlog"}
OBJECT_PARAMS = {"object_id", "object_pk", "pk", "id", "job_id"}
UNORDERED_POLICIES = "ignore::django.core.paginator.UnorderedObjectListWarning"


# --- The admin's URLs, from the registry ----------------------------------------------------


@dataclass(frozen=True)
class AdminUrl:
    model: type[models.Model]
    name: str  # the URL's name in the admin namespace
    params: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.model._meta.label_lower}:{self.kind}" + (
            f"({','.join(self.params)})" if self.params else ""
        )

    @property
    def kind(self) -> str:
        opts = self.model._meta
        return self.name.removeprefix(f"{opts.app_label}_{opts.model_name}_").removeprefix(
            f"{opts.app_label}_"
        )

    @property
    def model_admin(self) -> admin.ModelAdmin:
        return admin.site._registry[self.model]

    @property
    def names_an_object(self) -> bool:
        return bool(OBJECT_PARAMS & set(self.params))

    @property
    def is_rq(self) -> bool:
        """django-rq's dashboard: infrastructure, for superusers only (no team scoping)."""
        return self.model._meta.app_label == "django_rq"


def registry_urls() -> list[AdminUrl]:
    found: dict[tuple[str, tuple[str, ...]], AdminUrl] = {}
    for model, model_admin in admin.site._registry.items():
        for pattern in model_admin.get_urls():
            if isinstance(pattern, URLPattern) and pattern.name:
                params = tuple(sorted(pattern.pattern.regex.groupindex))
                found.setdefault((pattern.name, params), AdminUrl(model, pattern.name, params))
    return list(found.values())


ADMIN_URLS = registry_urls()


@dataclass(frozen=True)
class TeamBJobs:
    """Team B's work waiting in Redis; the queue and job the dashboard's URLs point at are
    the delivery queue and B's page waiting in it."""

    queue_index: int
    job_id: str
    job_ids: list[str]


# Deletes aim at team B's spare objects, which nothing references: a delete that got through
# would really delete (B's main objects are protected by their incidents and alerts).
DELETING_KINDS = {"delete", "changelist:delete_selected"}
JUNK_PARAMS = {"result_id", "key", "scheduler_name", "cron_job_name", "token"}
NO_SUCH_OBJECT = 0


def target(world: World, model: type[models.Model], *, deleting: bool = False) -> Any:
    if deleting and model in world.b.spares:
        return world.b.spares[model]
    return world.b_objects().get(model)


def url_of(case: AdminUrl, world: World, jobs: TeamBJobs | None, deleting: bool = False) -> str:
    obj = target(world, case.model, deleting=deleting)
    values: dict[str, Any] = {}
    for param in case.params:
        if param in {"object_id", "object_pk", "pk", "id"}:
            values[param] = NO_SUCH_OBJECT if obj is None else obj.pk
        elif param == "user_id":
            values[param] = world.b.manager.pk
        elif param == "group_id":
            values[param] = world.b_objects()[Group].pk
        elif param in {"queue_index", "job_id"}:
            assert jobs is not None
            values[param] = getattr(jobs, param)
        elif param in {"connection_index", "scheduler_index"}:
            values[param] = 0
        elif param in JUNK_PARAMS:
            values[param] = "nothing_here"
        else:
            pytest.fail(f"The matrix does not know how to fill {param!r} in {case.name}")
    return reverse(f"admin:{case.name}", kwargs=values)


def team_b_jobs(request: pytest.FixtureRequest, world: World) -> TeamBJobs:
    """Put team B's pending work in the (test) Redis, the way the engine does on commit: the
    incident's next escalation step (scheduled) and a page waiting in the delivery queue."""
    request.getfixturevalue("redis_conn")
    capture = request.getfixturevalue("django_capture_on_commit_callbacks")
    incident = world.b.incident
    with capture(execute=True):
        schedule_escalation_step(
            incident.pk,
            incident.active_job_id,
            incident.next_escalation_at,
            job_id=incident.active_job_id,
        )
        schedule_delivery(world.b.notification.pk)
    queue = get_queue(NOTIFICATION_QUEUE)
    [delivery] = queue.job_ids
    connection = queue.connection
    job_ids = sorted(key.decode().removeprefix("rq:job:") for key in connection.keys("rq:job:*"))
    assert incident.active_job_id in job_ids
    return TeamBJobs(get_queues_map()[NOTIFICATION_QUEUE], delivery, job_ids)


def redis_state() -> dict[bytes, Any]:
    connection = get_connection(ESCALATION_QUEUE)
    return {key: connection.dump(key) for key in sorted(connection.keys("*"))}


@pytest.fixture(scope="module")
def sessions(module_world: World, django_db_blocker: Any) -> dict[str, str]:
    """A logged-in session per persona for the whole module: part of the module's world, so
    logging in is neither repeated nor audited for every test."""
    keys = {}
    with django_db_blocker.unblock():
        for persona in PERSONAS:
            browser = Client()
            browser.force_login(module_world.users[persona])
            keys[persona] = browser.session.session_key
    return keys


@pytest.fixture
def clients(sessions: dict[str, str], world: World) -> dict[str, Client]:
    """A fresh browser per persona on the module's sessions (a test that rotates a session
    key, as a password change does, is rolled back with it)."""
    browsers = {}
    for persona, key in sessions.items():
        browsers[persona] = Client(raise_request_exception=False)
        browsers[persona].cookies[settings.SESSION_COOKIE_NAME] = key
    return browsers


@pytest.fixture(scope="module")
def baseline(module_world: World, sessions: dict[str, str], django_db_blocker: Any) -> Any:
    """The database as every test starts from it (each test is rolled back to it)."""
    with django_db_blocker.unblock():
        return db_state()


def team_b_names(world: World) -> list[str]:
    spares = [str(obj) for obj in world.b.spares.values()]
    return [*world.b.names, world.b.alert.summary, *spares]


def leaked(
    content: bytes, world: World, jobs: TeamBJobs | None, sent: dict[str, Any] | None = None
) -> list[str]:
    """What of team B a page shows: its names (or the marker they share) and its jobs' ids.
    What the request itself sent is not a leak when the page echoes it back."""
    echoed = " ".join(str(v) for values in (sent or {}).values() for v in _listed(values))
    traces = [MARKER] if MARKER not in echoed.lower() else team_b_names(world)
    traces += jobs.job_ids if jobs else []
    text = content.decode(errors="replace").lower()
    return [trace for trace in traces if trace.lower() in text and trace not in echoed]


def _listed(values: Any) -> list[Any]:
    return values if isinstance(values, list) else [values]


def is_refusal_redirect(response: Any) -> bool:
    location = response.headers.get("Location", "")
    return location == reverse("admin:index") or location.startswith(reverse("admin:login"))


# --- Known leaks and bugs (strict: they fail loudly once fixed) -------------------------------


def matrix(cases: Iterable[Any]) -> Iterator[Any]:
    for case in cases:
        for persona in NON_SUPERUSERS:
            yield pytest.param(case, persona, id=f"{case}-{persona}")


# --- GET: never shown --------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "persona"), list(matrix(ADMIN_URLS)))
def test_admin_page_for_team_b_is_refused_or_filtered(
    case: AdminUrl,
    persona: str,
    world: World,
    clients: dict[str, Client],
    request: pytest.FixtureRequest,
) -> None:
    jobs = team_b_jobs(request, world) if case.is_rq else None
    url = url_of(case, world, jobs)

    response = clients[persona].get(url)

    assert response.status_code < 500, f"{url} crashed for {persona}"
    if case.is_rq:
        assert response.status_code in REFUSED, f"{url} answered {response.status_code}"
    if persona == "auditor":
        assert_auditor_reads(case, response, world)
        return
    if case.names_an_object:
        assert response.status_code in REFUSED, f"{url} answered {response.status_code}"
        if response.status_code == 302:
            assert is_refusal_redirect(response), response.headers["Location"]
    assert leaked(response.content, world, jobs) == [], f"{url} shows team B to {persona}"


def assert_auditor_reads(case: AdminUrl, response: Any, world: World) -> None:
    auditor = world.persona("auditor")
    opts = case.model._meta
    if case.kind in READ_KINDS and auditor.has_perm(f"{opts.app_label}.view_{opts.model_name}"):
        assert response.status_code == 200
        if MARKER in str(target(world, case.model)).lower():
            assert mentions_team_b(response.content), "the auditor should see team B's object"


@pytest.mark.parametrize("case", [c for c in ADMIN_URLS if not c.is_rq], ids=str)
def test_superuser_opens_every_admin_page_of_team_b(
    case: AdminUrl, world: World, clients: dict[str, Client]
) -> None:
    """The positive control: the matrix's URLs point at real objects of team B."""
    url = url_of(case, world, None)

    response = clients["superuser"].get(url)

    assert response.status_code < 500, url
    if case.kind in READ_KINDS | {"permissions", "permissions_manage_user"}:
        assert response.status_code == 200, url
        if MARKER in str(target(world, case.model)).lower():
            assert mentions_team_b(response.content), url


@pytest.mark.parametrize("persona", NON_SUPERUSERS)
def test_admin_index_and_app_pages_never_mention_team_b(
    persona: str, world: World, clients: dict[str, Client]
) -> None:
    app_labels = {model._meta.app_label for model in admin.site._registry}
    urls = [reverse("admin:index")] + [
        reverse("admin:app_list", args=[label]) for label in sorted(app_labels)
    ]
    for url in urls:
        response = clients[persona].get(url)
        assert response.status_code in {200, 302, 403, 404}, url
        if persona != "auditor":
            assert not mentions_team_b(response.content), url


CHANGELISTS = [case for case in ADMIN_URLS if case.kind == "changelist" and not case.is_rq]
# Searches and filters aimed at team B: what they find must still be team A's only.
HOSTILE_QUERIES = [
    {"q": "disk"},  # A's and B's incidents both match
    {"q": "service"},
    {"q": MARKER},
    {"team__id__exact": "{team}"},
    {"service__team__id__exact": "{team}"},
    {"service__id__exact": "{service}"},
    {"integration__service__id__exact": "{service}"},
    {"incident__id__exact": "{incident}"},
]


def changelist_params() -> Iterator[Any]:
    for case in CHANGELISTS:
        for persona in TEAM_MEMBERS_ELSEWHERE:
            yield pytest.param(case, persona, id=f"{case}-{persona}")


@pytest.mark.parametrize(("case", "persona"), list(changelist_params()))
def test_changelist_search_and_filters_aimed_at_team_b_find_nothing(
    case: AdminUrl, persona: str, world: World, clients: dict[str, Client]
) -> None:
    ids = {"team": world.b.team.pk, "service": world.b.service.pk, "incident": world.b.incident.pk}
    for query in HOSTILE_QUERIES:
        sent = {key: value.format(**ids) for key, value in query.items()}
        response = clients[persona].get(reverse(f"admin:{case.name}"), sent)
        assert response.status_code < 500
        assert leaked(response.content, world, None, sent) == [], f"{case} {sent}"


# --- POST: never changed -----------------------------------------------------------------------


@dataclass(frozen=True)
class AdminPost:
    case: AdminUrl
    action: str = ""  # for a changelist: the bulk action

    def __str__(self) -> str:
        return f"{self.case}" + (f":{self.action}" if self.action else "")

    @property
    def kind(self) -> str:
        return f"{self.case.kind}:{self.action}" if self.action else self.case.kind


def admin_posts() -> list[AdminPost]:
    posts = []
    for case in ADMIN_URLS:
        if case.kind == "changelist" and not case.is_rq:
            base_actions = case.model_admin._get_base_actions()
            posts += [AdminPost(case, name) for _, name, _ in base_actions]
        else:
            posts.append(AdminPost(case))
    return posts


ADMIN_POSTS = admin_posts()
# Exporting is what the auditor is for: it records the export (tested with the exports).
AUDITOR_MAY_POST = {"incidents.auditexport:export"}


def post_params() -> Iterator[Any]:
    for param in matrix(ADMIN_POSTS):
        post, persona = param.values
        if not (persona == "auditor" and str(post.case).startswith(tuple(AUDITOR_MAY_POST))):
            yield param


@pytest.fixture(scope="module")
def scraped_forms() -> dict[str, Any]:
    """Forms as the superuser's browser sees them, by URL (pks are stable within a module)."""
    return {}


@pytest.mark.parametrize(("post", "persona"), list(post_params()))
def test_admin_post_on_team_b_changes_nothing(
    post: AdminPost,
    persona: str,
    world: World,
    clients: dict[str, Client],
    baseline: Any,
    request: pytest.FixtureRequest,
    scraped_forms: dict[str, Any],
) -> None:
    jobs = team_b_jobs(request, world) if post.case.is_rq else None
    url, data = post_request(post, world, jobs, clients, scraped_forms)
    redis_before = redis_state() if jobs else None

    response = clients[persona].post(url, data)

    assert response.status_code < 500, f"{url} crashed for {persona}"
    assert changed_tables(baseline, db_state()) == [], f"{persona} changed team B via {url}"
    if jobs:
        assert response.status_code in REFUSED
        assert redis_state() == redis_before, f"{persona} changed team B's jobs via {url}"
    if persona != "auditor":
        assert leaked(response.content, world, jobs, data) == []


# POSTs that take effect for the superuser beyond add/change/delete and the bulk actions, whose
# effect is decided by the ModelAdmin's own permissions (see superuser_may).
EFFECTIVE_KINDS = {
    "acknowledge",
    "resolve",
    "reassign",
    "note",
    "permissions_manage_user",
    "permissions_manage_group",
    "password_change",
}


def superuser_may(post: AdminPost, world: World, forms: dict[str, Any], clients: Any) -> bool:
    request = RequestFactory().get("/")
    request.user = world.persona("superuser")
    model_admin, kind = post.case.model_admin, post.case.kind
    obj = target(world, post.case.model, deleting=post.kind in DELETING_KINDS)
    if str(post) in {"authtoken.tokenproxy:add", "schedules.personsettings:add"}:
        return False  # a copy of B's manager's token or settings: one per user, never saved
    if post.action:
        return post.action in model_admin.get_actions(request)
    if kind == "add":
        return bool(model_admin.has_add_permission(request))
    if kind == "change":
        url = url_of(post.case, world, None)
        form = scrape(url, world, forms, clients)
        return model_admin.has_change_permission(request, obj) and edited(form) != form
    if kind == "delete":
        return bool(model_admin.has_delete_permission(request, obj))
    return kind in EFFECTIVE_KINDS


@pytest.mark.parametrize("post", [p for p in ADMIN_POSTS if not p.case.is_rq], ids=str)
def test_superuser_post_takes_effect(
    post: AdminPost,
    world: World,
    clients: dict[str, Client],
    baseline: Any,
    scraped_forms: dict[str, Any],
) -> None:
    """The positive control: each refused POST above would have changed something."""
    if not superuser_may(post, world, scraped_forms, clients):
        pytest.skip("nobody may do this: the refusals above are the admin's own")
    url, data = post_request(post, world, None, clients, scraped_forms)

    response = clients["superuser"].post(url, data)

    assert response.status_code in {200, 302}, url
    assert changed_tables(baseline, db_state()) != [], f"the superuser's POST to {url} was a no-op"


def post_request(
    post: AdminPost, world: World, jobs: TeamBJobs | None, clients: Any, forms: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    case, kind = post.case, post.kind
    url = url_of(case, world, jobs, deleting=kind in DELETING_KINDS)
    if case.is_rq:
        ids = jobs.job_ids if jobs else []
        return url, {"post": "yes", "action": "delete", "job_ids": ids, "_selected_action": ids}
    if kind.startswith("changelist:"):
        return url, bulk_action(post, world)
    builders: dict[str, Callable[[], dict[str, Any]]] = {
        "change": lambda: edited(scrape(url, world, forms, clients)),
        "add": lambda: add_form_cloning_team_b(case, world, forms, clients),
        "delete": lambda: {"post": "yes"},
        "permissions_manage_user": lambda: every_permission(url, world, forms, clients),
        "permissions_manage_group": lambda: every_permission(url, world, forms, clients),
        "password_change": lambda: {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        "export": lambda: export_of_team_b(world),
        "reassign": lambda: {"assignee": world.b.responder.pk, "note": "over to you"},
        "note": lambda: {"text": "looking into it"},
    }
    return url, builders.get(kind, dict)()


NEW_PASSWORD = "Xk-92-new-pass"


def bulk_action(post: AdminPost, world: World) -> dict[str, Any]:
    deleting = post.kind in DELETING_KINDS
    main = target(world, post.case.model)
    chosen = {target(world, post.case.model, deleting=deleting).pk}
    if not deleting:
        chosen.add(main.pk)
    return {"action": post.action, "_selected_action": sorted(chosen), "index": 0, "post": "yes"}


def export_of_team_b(world: World) -> dict[str, Any]:
    today = timezone.localdate()
    return {
        "kind": "incidents",
        "format": "csv",
        "start": today - timedelta(days=7),
        "end": today + timedelta(days=1),
        "team": world.b.team.pk,
    }


# --- Forms, as a browser submits them ------------------------------------------------------


class FormFields(HTMLParser):
    """The fields of a page's POST forms (not the logout form), as a browser submits them."""

    SKIPPED_INPUTS = {"submit", "button", "image", "reset", "file"}

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self.selects: dict[str, list[str]] = {}  # every option offered, by field name
        self._in_form = False
        self._select: tuple[str, bool, list[tuple[str, bool]]] | None = None
        self._textarea: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "form":
            self._in_form = a.get("method", "").lower() == "post" and a.get("id") != "logout-form"
        elif not self._in_form or (not a.get("name") and tag != "option"):
            return
        elif tag == "input" and a.get("type", "text") not in self.SKIPPED_INPUTS:
            if a.get("type") in {"checkbox", "radio"} and "checked" not in a:
                return
            default = "on" if a.get("type") in {"checkbox", "radio"} else ""
            self.data.setdefault(a["name"], []).append(a.get("value", default))
        elif tag == "select":
            self._select = (a["name"], "multiple" in a, [])
        elif tag == "option" and self._select is not None:
            self._select[2].append((a.get("value", ""), "selected" in a))
        elif tag == "textarea":
            self._textarea = (a["name"], [])

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "select" and self._select is not None:
            name, multiple, options = self._select
            self.selects[name] = [value for value, _ in options]
            chosen = [value for value, selected in options if selected]
            if not chosen and not multiple and options:
                chosen = [options[0][0]]
            self.data[name] = chosen
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            name, parts = self._textarea
            self.data[name] = ["".join(parts).removeprefix("\n")]
            self._textarea = None


def form_fields(content: bytes) -> FormFields:
    parser = FormFields()
    parser.feed(content.decode())
    return parser


def scrape_form(url: str, world: World, forms: dict[str, Any], clients: Any) -> FormFields:
    if url not in forms:
        response = clients["superuser"].get(url)
        forms[url] = form_fields(response.content if response.status_code == 200 else b"")
    return forms[url]


def scrape(url: str, world: World, forms: dict[str, Any], clients: Any) -> dict[str, list[str]]:
    """The form's data as the superuser's browser would submit it unchanged."""
    page = scrape_form(url, world, forms, clients)
    return {name: list(values) for name, values in page.data.items()}


NAME_FIELDS = {"name", "title", "description", "summary", "username", "first_name"}


def edited(data: dict[str, list[str]], suffix: str = "-edited") -> dict[str, list[str]]:
    """The same form with every name-like text changed: saving it would change the row."""
    result = {}
    for key, values in data.items():
        is_name = key.rsplit("-", 1)[-1] in NAME_FIELDS
        result[key] = [values[0] + suffix] if is_name and values and values[0] else values
    return result


def every_permission(url: str, world: World, forms: dict[str, Any], clients: Any) -> dict[str, Any]:
    """guardian's manage form with every permission it offers ticked."""
    page = scrape_form(url, world, forms, clients)
    return {**page.data, "permissions": page.selects.get("permissions", [])}


def add_form_cloning_team_b(
    case: AdminUrl, world: World, forms: dict[str, Any], clients: Any
) -> dict[str, Any]:
    """The add form filled in with a copy of team B's object, so that it would land in team B;
    the copy's inline rows become new rows, and passwords are filled in."""
    opts = case.model._meta
    add_form = scrape(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_add"), world, forms, clients
    )
    obj = target(world, case.model)
    if obj is None or not add_form:
        return add_form
    change_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    copy = edited(scrape(change_url, world, forms, clients), suffix="-copy")
    inline_fks = {
        _get_foreign_key(case.model, inline.model, inline.fk_name).name
        for inline in case.model_admin.inlines
    }
    for key, values in copy.items():
        inline_field = key.rsplit("-", 1)[-1] if "-" in key else ""
        if key.endswith("-INITIAL_FORMS"):
            add_form[key] = ["0"]
        elif not re.search(r"-\d+-id$", key) and inline_field not in inline_fks:
            add_form[key] = values
    for field in opts.concrete_fields:  # read-only once saved (a rotation's schedule): as stored
        if field.is_relation and field.name in add_form and field.name not in copy:
            add_form[field.name] = [str(getattr(obj, field.attname))]
    for key, values in add_form.items():
        if key.startswith("password") and values in ([], [""]):
            add_form[key] = [NEW_PASSWORD]
    return add_form


# --- Autocomplete --------------------------------------------------------------------------


@dataclass(frozen=True)
class Autocomplete:
    source: type[models.Model]
    field: str
    remote: type[models.Model]

    def __str__(self) -> str:
        return f"{self.source._meta.label_lower}.{self.field}"

    def url(self) -> str:
        opts = self.source._meta
        return (
            f"{reverse('admin:autocomplete')}?app_label={opts.app_label}"
            f"&model_name={opts.model_name}&field_name={self.field}&term="
        )


def autocompletes() -> list[Autocomplete]:
    """Every relation of a registered model to a registered, searchable model: the admin's
    autocomplete endpoint serves all of them, whether or not a form uses it."""
    found = []
    for model in admin.site._registry:
        for field in model._meta.get_fields():
            remote = field.related_model
            if not field.is_relation or field.auto_created or remote not in admin.site._registry:
                continue
            if admin.site._registry[remote].search_fields:
                found.append(Autocomplete(model, field.name, remote))
    return found


AUTOCOMPLETES = autocompletes()


def autocomplete_ids(response: Any) -> set[str]:
    if response.status_code != 200:
        return set()
    return {row["id"] for row in response.json()["results"]}


def team_b_pks(world: World, model: type[models.Model]) -> set[str]:
    objects = [world.b_objects().get(model), world.b.spares.get(model)]
    return {str(obj.pk) for obj in objects if obj is not None}


@pytest.mark.filterwarnings(UNORDERED_POLICIES)
@pytest.mark.parametrize("persona", NON_SUPERUSERS)
@pytest.mark.parametrize("autocomplete", AUTOCOMPLETES, ids=str)
def test_admin_autocomplete_never_offers_team_b(
    autocomplete: Autocomplete, persona: str, world: World, clients: dict[str, Client]
) -> None:
    response = clients[persona].get(autocomplete.url())

    assert response.status_code in {200, 403, 404}
    if persona != "auditor":
        assert not autocomplete_ids(response) & team_b_pks(world, autocomplete.remote)
        assert not mentions_team_b(response.content)


@pytest.mark.filterwarnings(UNORDERED_POLICIES)
@pytest.mark.parametrize("autocomplete", AUTOCOMPLETES, ids=str)
def test_superuser_autocomplete_offers_team_b(
    autocomplete: Autocomplete, world: World, clients: dict[str, Client]
) -> None:
    """The positive control: each endpoint above would have offered team B's object."""
    response = clients["superuser"].get(autocomplete.url())

    assert team_b_pks(world, autocomplete.remote) <= autocomplete_ids(response)


# --- Foreign-key choices on the manager's own forms ------------------------------------------


def field_of_select(model_admin: admin.ModelAdmin, name: str) -> models.Field | None:
    """The model field a form <select> edits: `team`, or `levels-0-users` on an inline."""
    match = re.fullmatch(r"(?P<prefix>.+)-(\d+|__prefix__)-(?P<field>[^-]+)", name)
    if not match:
        return model_admin.model._meta.get_field(name)
    for inline in model_admin.inlines:
        fk = _get_foreign_key(model_admin.model, inline.model, inline.fk_name)
        if fk.remote_field.get_accessor_name(model=inline.model) == match["prefix"]:
            return inline.model._meta.get_field(match["field"])
    return None


def manager_forms(world: World) -> Iterable[tuple[admin.ModelAdmin, str]]:
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        if opts.app_label == "django_rq":
            continue
        yield model_admin, reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
        own = world.a.objects().get(model)
        if own is not None:
            yield (
                model_admin,
                reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[own.pk]),
            )


def allowed_choices(world: World, field: models.Field) -> set[str] | None:
    """What the manager of A may pick for `field`; None where any choice is by design."""
    if field.related_model in registered_models():
        own = field.related_model._default_manager.filter(
            pk__in=[world.a.objects()[field.related_model].pk]
            + [s.pk for m, s in world.a.spares.items() if m is field.related_model]
        )
        return {str(pk) for pk in own.values_list("pk", flat=True)} | {""}
    if field.related_model is User and field.model is EscalationLevel:
        return {str(world.a.manager.pk), str(world.a.responder.pk)}
    if field.related_model is User and field.model in {RotationParticipant, Override}:
        return {str(world.a.manager.pk), str(world.a.responder.pk), ""}
    if field.related_model is User and field.model is TeamMembership:
        return None  # a manager may add anyone to their team
    return None


def test_foreign_key_dropdowns_of_manager_a_offer_only_team_a(
    world: World, clients: dict[str, Client]
) -> None:
    client = clients["manager_a"]
    checked = set()
    for model_admin, url in manager_forms(world):
        response = client.get(url)
        if response.status_code != 200:
            continue
        for name, offered in form_fields(response.content).selects.items():
            field = field_of_select(model_admin, name)
            if field is None or not field.is_relation:
                continue
            allowed = allowed_choices(world, field)
            if allowed is not None:
                assert set(offered) <= allowed, f"{url} offers {name}={offered}"
                checked.add(f"{field.model._meta.model_name}.{field.name}")
    assert {
        "service.team",
        "service.escalation_policy",
        "integration.service",
        "escalationlevel.users",
        "escalationlevel.schedules",
        "rotation.schedule",
        "rotationparticipant.user",
        "override.schedule",
        "override.user",
    } <= checked


# --- The manager's and the responder's own work -------------------------------------------


def admin_url(name: str, *args: Any) -> str:
    return reverse(f"admin:{name}", args=args)


def test_manager_of_a_changes_a_service_of_team_a(
    world: World, clients: dict[str, Client], scraped_forms: dict[str, Any]
) -> None:
    url = admin_url("incidents_service_change", world.a.service.pk)
    data = {**scrape(url, world, scraped_forms, clients), "name": ["Alpha renamed service"]}

    response = clients["manager_a"].post(url, data)

    assert response.status_code == 302
    world.a.service.refresh_from_db()
    assert world.a.service.name == "Alpha renamed service"


def test_responder_of_a_cannot_change_a_service_of_team_a(
    world: World, clients: dict[str, Client], scraped_forms: dict[str, Any]
) -> None:
    url = admin_url("incidents_service_change", world.a.service.pk)
    data = edited(scrape(url, world, scraped_forms, clients))

    response = clients["responder_a"].post(url, data)

    assert response.status_code == 403
    world.a.service.refresh_from_db()
    assert world.a.service.name == "Alpha payments service"


def service_form(team: Team, policy: EscalationPolicy, name: str) -> dict[str, Any]:
    return {
        "team": team.pk,
        "name": name,
        "description": "",
        "escalation_policy": policy.pk,
        "integrations-TOTAL_FORMS": 0,
        "integrations-INITIAL_FORMS": 0,
    }


def test_manager_of_a_adds_a_service_to_team_a(world: World, clients: dict[str, Client]) -> None:
    data = service_form(world.a.team, world.a.policy, "Alpha new service")

    response = clients["manager_a"].post(admin_url("incidents_service_add"), data)

    assert response.status_code == 302
    assert Service.objects.get(name="Alpha new service").team == world.a.team


@pytest.mark.parametrize(
    "forged", ["team B with B's policy", "team B with A's policy", "team A with B's policy"]
)
def test_manager_of_a_cannot_add_a_service_to_team_b_by_forging_the_form(
    world: World, clients: dict[str, Client], baseline: Any, forged: str
) -> None:
    team = world.b.team if forged.startswith("team B") else world.a.team
    policy = world.b.policy if "B's policy" in forged else world.a.policy

    response = clients["manager_a"].post(
        admin_url("incidents_service_add"), service_form(team, policy, "Forged service")
    )

    assert response.status_code == 200  # the form again, with the error
    assert "Select a valid choice" in response.content.decode()
    assert changed_tables(baseline, db_state()) == []


def team_a_form(world: World, clients: dict[str, Client], rows: list[dict[str, Any]]) -> Any:
    """Team A's change form with its memberships; each row edits the membership at `index`,
    or adds a new one."""
    url = admin_url("schedules_team_change", world.a.team.pk)
    data = form_fields(clients["superuser"].get(url).content).data
    initial = int(data["memberships-INITIAL_FORMS"][0])
    new_rows = 0
    for row in rows:
        index = row.pop("index", None)
        if index is None:
            index, new_rows = initial + new_rows, new_rows + 1
        data.update({f"memberships-{index}-{key}": [str(v)] for key, v in row.items()})
    data["memberships-TOTAL_FORMS"] = [str(initial + max(new_rows, 1))]
    return data


def membership_index(world: World, user: Any) -> int:
    """The row of `user`'s membership in team A's form (ordered as TeamMembership.Meta says)."""
    users = list(world.a.team.memberships.order_by("team", "user").values_list("user", flat=True))
    return users.index(user.pk)


def post_team_a(world: World, clients: dict[str, Client], rows: list[dict[str, Any]]) -> Any:
    url = admin_url("schedules_team_change", world.a.team.pk)
    return clients["manager_a"].post(url, team_a_form(world, clients, rows))


def test_manager_of_a_adds_a_responder_to_team_a(world: World, clients: dict[str, Client]) -> None:
    newcomer = make_user("nina")

    response = post_team_a(world, clients, [{"user": newcomer.pk, "role": Role.RESPONDER}])

    assert response.status_code == 302
    assert world.a.team.memberships.get(user=newcomer).role == Role.RESPONDER


def test_manager_of_a_cannot_make_a_newcomer_a_manager(
    world: World, clients: dict[str, Client]
) -> None:
    newcomer = make_user("nina")

    response = post_team_a(world, clients, [{"user": newcomer.pk, "role": Role.MANAGER}])

    assert "Only an administrator can make someone a manager." in response.content.decode()
    assert not world.a.team.memberships.filter(user=newcomer).exists()


def test_manager_of_a_cannot_promote_a_responder_to_manager(
    world: World, clients: dict[str, Client]
) -> None:
    row = {"index": membership_index(world, world.a.responder), "role": Role.MANAGER}

    response = post_team_a(world, clients, [row])

    assert "Only an administrator can make someone a manager." in response.content.decode()
    assert world.a.team.memberships.get(user=world.a.responder).role == Role.RESPONDER


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"role": Role.RESPONDER}, id="demote"),
        pytest.param({"DELETE": "on"}, id="remove"),
    ],
)
def test_manager_of_a_cannot_demote_or_remove_another_manager(
    world: World, clients: dict[str, Client], change: dict[str, str]
) -> None:
    other_manager = make_user("mona")
    join(world.a.team, other_manager, Role.MANAGER)
    before = db_state()

    response = post_team_a(
        world, clients, [{"index": membership_index(world, other_manager), **change}]
    )

    assert changed_tables(before, db_state()) == []
    assert "Only an administrator can change a manager&#x27;s membership." in (
        response.content.decode()
    )


def test_superuser_may_make_a_manager(world: World, clients: dict[str, Client]) -> None:
    """The positive control of the refusals above: the form itself accepts the change."""
    row = {"index": membership_index(world, world.a.responder), "role": Role.MANAGER}
    url = admin_url("schedules_team_change", world.a.team.pk)

    response = clients["superuser"].post(url, team_a_form(world, clients, [row]))

    assert response.status_code == 302
    assert world.a.team.memberships.get(user=world.a.responder).role == Role.MANAGER


def test_responder_of_a_acknowledges_a_incident_with_the_admin_button(
    world: World, clients: dict[str, Client]
) -> None:
    incident = world.a.incident

    response = clients["responder_a"].post(admin_url("incidents_incident_acknowledge", incident.pk))

    assert response.status_code == 302
    assert response.headers["Location"] == admin_url("incidents_incident_change", incident.pk)
    incident.refresh_from_db()
    assert incident.status == Incident.Status.ACKNOWLEDGED
    assert incident.acknowledged_by == world.a.responder


# --- No N+1 on the manager's lists -----------------------------------------------------------

_serial = itertools.count()


def grow_team_a(world: World, model: type[models.Model], n: int) -> None:
    """Add `n` more objects of `model` to team A (what the manager's list will show)."""
    a = world.a
    for _ in range(n):
        tag = f"{model._meta.model_name}-{next(_serial)}"
        if model is Team:
            join(Team.objects.create(name=f"Alpha extra {tag}"), a.manager, Role.MANAGER)
        elif model is Service:
            Service.objects.create(team=a.team, name=f"Alpha {tag}", escalation_policy=a.policy)
        elif model is Integration:
            make_integration(a.service, name=f"Alpha {tag}")
        elif model is EscalationPolicy:
            policy = EscalationPolicy.objects.create(team=a.team, name=f"Alpha {tag}")
            add_level(policy, [a.responder, a.manager], timedelta(minutes=5))
        elif model in {Incident, Alert, Notification}:
            open_incident(a.integration, "Alpha", f"alpha/{tag}")
        elif model in {Schedule, Rotation, Override}:
            grow_schedule(a, model, tag)
        elif model is ContactMethod:  # the manager's own list: their own methods, with a rule
            pager = ContactMethod.objects.create(user=a.manager, address=f"{tag}@example.com")
            NotificationRule.objects.create(contact_method=pager)
        else:
            pytest.fail(f"teach grow_team_a to make a {model._meta.label}")


def grow_schedule(a: TeamWorld, model: type[models.Model], tag: str) -> None:
    """A schedule with a layer of the team's two people and an override, or one more of these."""
    start = timezone.now() - timedelta(days=3)
    schedule = a.schedule
    if model is Schedule:
        schedule = Schedule.objects.create(team=a.team, name=f"Alpha {tag}", time_zone="Asia/Tokyo")
    if model in {Schedule, Rotation}:
        rotation = Rotation.objects.create(schedule=schedule, name=f"Alpha {tag}", start=start)
        for position, user in enumerate([a.responder, a.manager]):
            RotationParticipant.objects.create(rotation=rotation, user=user, position=position)
    if model in {Schedule, Override}:
        Override.objects.create(
            schedule=schedule, user=a.manager, start=start, end=start + timedelta(days=5)
        )


def visible_rows(world: World, model: type[models.Model]) -> int:
    request = RequestFactory().get("/")
    request.user = world.persona("manager_a")
    return admin.site._registry[model].get_queryset(request).count()


def grow_to(world: World, model: type[models.Model], rows: int) -> None:
    grow_team_a(world, model, rows - visible_rows(world, model))
    assert visible_rows(world, model) == rows


MANAGER_LISTS = [
    Incident,
    Service,
    EscalationPolicy,
    Team,
    Alert,
    Notification,
    Integration,
    Schedule,
    Rotation,
    Override,
    ContactMethod,
]


@pytest.mark.parametrize("model", MANAGER_LISTS, ids=lambda m: m._meta.model_name)
def test_manager_changelist_queries_do_not_grow_with_rows(
    world: World, clients: dict[str, Client], model: type[models.Model]
) -> None:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    counts = []
    for rows in (2, 10):
        grow_to(world, model, rows)
        clients["manager_a"].get(url)  # warm caches (content types, permission ids)
        with CaptureQueriesContext(connection) as queries:
            response = clients["manager_a"].get(url)
        assert response.status_code == 200
        assert response.context["cl"].result_count == rows
        counts.append(len(queries))
    assert counts[0] == counts[1], f"{counts[0]} queries for 2 rows, {counts[1]} for 10"


def test_every_changelist_the_manager_opens_has_its_query_count_checked(
    clients: dict[str, Client],
) -> None:
    opened = {
        model
        for model in admin.site._registry
        if model._meta.app_label != "django_rq"
        and clients["manager_a"]
        .get(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"))
        .status_code
        == 200
    }
    assert opened == set(MANAGER_LISTS)


def test_the_matrix_covers_the_admin_pages_that_matter() -> None:
    """A guard on the generator itself: if the registry walk broke, the matrix would shrink."""
    cases = {str(case) for case in ADMIN_URLS}
    assert {
        "incidents.incident:acknowledge(pk)",
        "incidents.incident:resolve(pk)",
        "incidents.incident:reassign(pk)",
        "incidents.incident:note(pk)",
        "incidents.service:permissions(object_pk)",
        "incidents.service:permissions_manage_group(group_id,object_pk)",
        "incidents.service:auditlog(object_id)",
        "escalation.escalationpolicy:change(object_id)",
        "schedules.team:delete(object_id)",
        "incidents.alert:history(object_id)",
        "auth.user:password_change(id)",
        "django_rq.dashboard:job_detail(job_id,queue_index)",
    } <= cases
    assert {
        "incidents.incident:changelist:acknowledge_selected",
        "incidents.incident:changelist:resolve_selected",
        "incidents.integration:changelist:rotate_keys",
        "incidents.service:changelist:delete_selected",
    } <= {str(post) for post in ADMIN_POSTS}
    assert {AuditEntry, AuditExport, Alert, Notification} <= {case.model for case in ADMIN_URLS}
    assert {"incidents.service.escalation_policy", "incidents.integration.service"} <= {
        str(autocomplete) for autocomplete in AUTOCOMPLETES
    }
