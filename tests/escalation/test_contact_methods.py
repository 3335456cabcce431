"""Contact methods and notification rules: what they accept, which points a person is paged at,
and who may see and change them in the admin and the API (each person their own; superusers
everyone's; auditors read everyone's)."""

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from escalation.channels import CHANNELS
from escalation.contact import ContactPoint, contact_points, notice_points
from escalation.models import ContactMethod, NotificationRule, RuleUrgency
from schedules.access import AUDITORS_GROUP, role_group
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()


def method(user: Any, address: str, kind: str = "email", label: str = "") -> ContactMethod:
    return ContactMethod.objects.create(user=user, kind=kind, address=address, label=label)


def rule(
    contact: ContactMethod, delay_minutes: int = 0, urgency: str = RuleUrgency.ANY
) -> NotificationRule:
    return NotificationRule.objects.create(
        contact_method=contact, delay_minutes=delay_minutes, urgency=urgency
    )


# --- The models ----------------------------------------------------------------------------


def test_every_kind_of_contact_method_has_a_channel_and_every_channel_is_a_kind() -> None:
    kinds = dict(ContactMethod._meta.get_field("kind").choices)  # type: ignore[arg-type]
    assert set(kinds) == set(CHANNELS) >= {"email", "webhook"}


@pytest.mark.parametrize(
    ("kind", "address", "valid"),
    [
        ("email", "rita@example.com", True),
        ("email", "rita at example.com", False),
        ("email", "https://hooks.example.com/rita", False),
        ("webhook", "https://hooks.example.com/rita", True),
        ("webhook", "http://relay.internal:8080/page", True),
        ("webhook", "rita@example.com", False),
        ("webhook", "ftp://hooks.example.com/rita", False),
        ("sms", "+4915112345678", False),  # no SMS channel yet: not a kind
    ],
)
def test_addresses_are_validated_for_their_kind(kind: str, address: str, valid: bool) -> None:
    contact = ContactMethod(user=UserFactory(), kind=kind, address=address)
    if valid:
        contact.full_clean()
    else:
        with pytest.raises(ValidationError) as raised:
            contact.full_clean()
        assert set(raised.value.message_dict) & {"address", "kind"}


def test_email_and_webhook_methods_are_usable_as_soon_as_they_are_saved() -> None:
    user = UserFactory()
    assert method(user, "a@example.com").verified
    assert method(user, "https://hooks.example.com/a", "webhook").verified


class CodeChannel:
    """A channel whose addresses must be proven (as SMS will be)."""

    kind = "code"
    label = "Code"
    needs_verification = True

    def validate_address(self, address: str) -> None:
        pass

    def display_address(self, address: str) -> str:
        return f"…{address[-2:]}"

    def send(self, message: Any) -> None:
        pass


def test_a_method_that_needs_verification_is_not_paged_until_verified(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(CHANNELS, "code", CodeChannel())
    user = UserFactory()
    unproven = method(user, "+4915112345678", "code")
    rule(unproven)
    rule(method(user, "a@example.com"), 5)

    assert not unproven.verified
    assert [point.address for point in contact_points(user, "high")] == ["a@example.com"]


def test_a_rule_belongs_to_its_contact_methods_person() -> None:
    rita = UserFactory()
    assert rule(method(rita, "rita@example.com")).user == rita


def test_a_rule_cannot_use_someone_elses_contact_method() -> None:
    rita, sam = UserFactory(), UserFactory()

    with pytest.raises(ValidationError, match="own person's contact methods"):
        NotificationRule.objects.create(user=rita, contact_method=method(sam, "sam@example.com"))
    assert not NotificationRule.objects.exists()


def test_a_rule_waits_at_most_a_day() -> None:
    too_late = NotificationRule(contact_method=method(UserFactory(), "a@example.com"))
    too_late.delay_minutes = 24 * 60 + 1
    with pytest.raises(ValidationError, match="delay_minutes"):
        too_late.full_clean(exclude=["user"])


# --- Contact points ----------------------------------------------------------------------------


def test_someone_with_no_rules_is_paged_at_their_account_email_at_once() -> None:
    rita = UserFactory(username="rita")
    method(rita, "rita@pager.example")  # a method alone, without a rule, is not used

    assert contact_points(rita, "high") == [ContactPoint("email", "rita@example.com")]
    assert contact_points(UserFactory(email=""), "high") == []


def test_points_come_from_the_rules_for_the_urgency_earliest_first() -> None:
    rita = UserFactory()
    hook = method(rita, "https://hooks.example.com/rita", "webhook")
    mail = method(rita, "rita@pager.example")
    later = rule(hook, 10, RuleUrgency.HIGH)
    now = rule(mail, 0, RuleUrgency.ANY)
    low = rule(mail, 30, RuleUrgency.LOW)

    assert contact_points(rita, "high") == [
        ContactPoint("email", "rita@pager.example", timedelta(0), now.pk),
        ContactPoint("webhook", hook.address, timedelta(minutes=10), later.pk),
    ]
    assert [point.rule_id for point in contact_points(rita, "low")] == [now.pk, low.pk]
    assert [point.rule_id for point in contact_points(rita)] == [now.pk, later.pk, low.pk]


def test_someone_whose_rules_leave_out_an_urgency_is_not_paged_for_it() -> None:
    rita = UserFactory()
    rule(method(rita, "rita@pager.example"), 0, RuleUrgency.HIGH)

    assert contact_points(rita, "low") == []


def test_notices_go_to_each_address_of_the_rules_once_and_at_once() -> None:
    rita = UserFactory()
    mail = method(rita, "rita@pager.example")
    first = rule(mail, 0)
    rule(mail, 15)
    hook = method(rita, "https://hooks.example.com/rita", "webhook")
    hooked = rule(hook, 5)

    assert notice_points(rita, "high") == [
        ContactPoint("email", "rita@pager.example", timedelta(0), first.pk),
        ContactPoint("webhook", hook.address, timedelta(0), hooked.pk),
    ]


# --- The admin ---------------------------------------------------------------------------------


@pytest.fixture
def people() -> dict[str, Any]:
    """Two responders of one team, a superuser, an auditor and a staff user in no team; the
    responders each have a contact method with a rule."""
    team = TeamFactory()
    found = {
        name: UserFactory(username=name, is_staff=True)
        for name in ["rita", "sam", "root", "audrey", "stan"]
    }
    for name in ["rita", "sam"]:
        MembershipFactory(team=team, user=found[name])
        rule(method(found[name], f"{name}@pager.example", label=f"{name}'s pager"))
    found["root"].is_superuser = True
    found["root"].save()
    found["audrey"].groups.add(role_group(AUDITORS_GROUP))
    return found


def browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def admin_url(name: str, *args: Any) -> str:
    return reverse(f"admin:escalation_contactmethod_{name}", args=args)


def own_method(people: dict[str, Any], name: str) -> ContactMethod:
    return ContactMethod.objects.get(user=people[name])


def test_a_responder_lists_only_their_own_contact_methods(people: dict[str, Any]) -> None:
    response = browser(people["rita"]).get(admin_url("changelist"))

    assert response.status_code == 200
    assert [obj.user.username for obj in response.context["cl"].result_list] == ["rita"]
    content = response.content.decode()
    assert "My contact methods" in content
    assert "rita@pager.example" in content
    assert "at once (any incident)" in content
    assert "sam@pager.example" not in content


def test_a_responder_cannot_open_or_change_someone_elses_method(people: dict[str, Any]) -> None:
    sams = own_method(people, "sam")
    rita = browser(people["rita"])

    assert rita.get(admin_url("change", sams.pk)).status_code == 302  # "does not exist"
    assert rita.get(admin_url("history", sams.pk)).status_code == 302
    assert rita.get(admin_url("auditlog", sams.pk)).status_code == 404
    rita.post(admin_url("delete", sams.pk), {"post": "yes"})
    rita.post(
        admin_url("changelist"),
        {"action": "delete_selected", "_selected_action": [sams.pk], "post": "yes"},
    )
    assert ContactMethod.objects.filter(pk=sams.pk).exists()


def new_method_form(user: Any, **extra: Any) -> dict[str, Any]:
    return {
        "user": user.pk,
        "kind": "webhook",
        "address": "https://hooks.example.com/new",
        "label": "Team bot",
        "rules-TOTAL_FORMS": 2,
        "rules-INITIAL_FORMS": 0,
        "rules-0-delay_minutes": 0,
        "rules-0-urgency": "high",
        "rules-1-delay_minutes": 10,
        "rules-1-urgency": "any",
        **extra,
    }


def test_a_responder_adds_a_method_with_its_rules(people: dict[str, Any]) -> None:
    rita = people["rita"]

    response = browser(rita).post(admin_url("add"), new_method_form(rita))

    assert response.status_code == 302
    added = ContactMethod.objects.get(address="https://hooks.example.com/new")
    assert (added.user, added.kind, added.verified) == (rita, "webhook", True)
    rules = added.rules.order_by("delay_minutes")
    assert [(r.user, r.delay_minutes, r.urgency) for r in rules] == [
        (rita, 0, "high"),
        (rita, 10, "any"),
    ]


def test_the_add_form_offers_a_responder_only_themselves(people: dict[str, Any]) -> None:
    response = browser(people["rita"]).get(admin_url("add"))

    choices = list(response.context["adminform"].form.fields["user"].queryset)
    assert choices == [people["rita"]]


def test_a_responder_cannot_add_a_method_for_someone_else(people: dict[str, Any]) -> None:
    response = browser(people["rita"]).post(admin_url("add"), new_method_form(people["sam"]))

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ContactMethod.objects.filter(address="https://hooks.example.com/new").exists()


def test_a_bad_webhook_url_is_refused_in_the_admin(people: dict[str, Any]) -> None:
    form = new_method_form(people["rita"], address="ftp://hooks.example.com/new")

    response = browser(people["rita"]).post(admin_url("add"), form)

    assert "https:// or http://" in response.content.decode()
    assert ContactMethod.objects.count() == 2


def test_saving_a_method_without_rules_warns_that_it_is_unused(people: dict[str, Any]) -> None:
    form = new_method_form(people["rita"], **{"rules-TOTAL_FORMS": 0})

    response = browser(people["rita"]).post(admin_url("add"), form, follow=True)

    assert "has no notification rules, so pages do not use it yet" in response.content.decode()


def test_a_responder_changes_their_rules_but_not_whose_method_it_is(
    people: dict[str, Any],
) -> None:
    ritas = own_method(people, "rita")
    [existing] = ritas.rules.all()
    form = {
        "kind": "email",
        "address": "rita@new.example",
        "label": "",
        "user": people["sam"].pk,  # ignored: read-only on the change page
        "rules-TOTAL_FORMS": 1,
        "rules-INITIAL_FORMS": 1,
        "rules-0-id": existing.pk,
        "rules-0-contact_method": ritas.pk,
        "rules-0-delay_minutes": 3,
        "rules-0-urgency": "low",
    }

    response = browser(people["rita"]).post(admin_url("change", ritas.pk), form)

    assert response.status_code == 302
    ritas.refresh_from_db()
    existing.refresh_from_db()
    assert (ritas.user, ritas.address) == (people["rita"], "rita@new.example")
    assert (existing.delay_minutes, existing.urgency) == (3, "low")


def test_the_superuser_sees_and_manages_everyones(people: dict[str, Any]) -> None:
    root = browser(people["root"])
    response = root.get(admin_url("changelist"))

    assert response.context["cl"].result_count == 2
    assert root.post(admin_url("add"), new_method_form(people["sam"])).status_code == 302
    assert ContactMethod.objects.get(address="https://hooks.example.com/new").user == people["sam"]


def test_the_auditor_reads_everyones_and_changes_nothing(people: dict[str, Any]) -> None:
    audrey = browser(people["audrey"])
    sams = own_method(people, "sam")

    assert audrey.get(admin_url("changelist")).context["cl"].result_count == 2
    page = audrey.get(admin_url("change", sams.pk))
    assert page.status_code == 200
    assert "sam@pager.example" in page.content.decode()
    assert not page.context["has_change_permission"]
    assert audrey.get(admin_url("add")).status_code == 403
    audrey.post(admin_url("delete", sams.pk), {"post": "yes"})
    assert ContactMethod.objects.filter(pk=sams.pk).exists()


def test_staff_in_no_team_have_no_contact_methods_page(people: dict[str, Any]) -> None:
    stan = browser(people["stan"])

    assert stan.get(admin_url("changelist")).status_code == 403
    assert stan.get(admin_url("add")).status_code == 403


# --- The API -----------------------------------------------------------------------------------


def api(user: Any) -> Client:
    token, _ = Token.objects.get_or_create(user=user)
    return Client(headers={"Authorization": f"Token {token.key}"})


def ids(response: Any) -> set[int]:
    return {row["id"] for row in response.json()["results"]}


METHODS = "/api/v1/contact-methods/"
RULES = "/api/v1/notification-rules/"


def test_the_api_lists_a_responders_own_methods_and_rules(people: dict[str, Any]) -> None:
    rita = api(people["rita"])
    ritas = own_method(people, "rita")

    assert ids(rita.get(METHODS)) == {ritas.pk}
    assert ids(rita.get(RULES)) == {ritas.rules.get().pk}
    sams = own_method(people, "sam")
    assert rita.get(f"{METHODS}{sams.pk}/").status_code == 404
    assert rita.get(f"{RULES}{sams.rules.get().pk}/").status_code == 404


def test_the_api_adds_a_method_for_the_caller_by_default(people: dict[str, Any]) -> None:
    response = api(people["rita"]).post(
        METHODS,
        {"kind": "webhook", "address": "https://hooks.example.com/rita", "label": "bot"},
        content_type="application/json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["user"] == "rita"
    assert response.json()["verified"] is True


def test_the_api_refuses_a_method_for_someone_else(people: dict[str, Any]) -> None:
    body = {"user": "sam", "kind": "email", "address": "sam@evil.example"}

    response = api(people["rita"]).post(METHODS, body, content_type="application/json")

    assert response.status_code == 403
    assert not ContactMethod.objects.filter(address="sam@evil.example").exists()
    root = api(people["root"]).post(METHODS, body, content_type="application/json")
    assert root.status_code == 201


def test_the_api_validates_the_address_for_its_kind(people: dict[str, Any]) -> None:
    ritas = own_method(people, "rita")

    response = api(people["rita"]).patch(
        f"{METHODS}{ritas.pk}/", {"kind": "webhook"}, content_type="application/json"
    )

    assert response.status_code == 400
    assert "https:// or http://" in response.json()["address"][0]


def test_a_method_stays_with_its_person(people: dict[str, Any]) -> None:
    sams = own_method(people, "sam")

    response = api(people["root"]).patch(
        f"{METHODS}{sams.pk}/", {"user": "rita"}, content_type="application/json"
    )

    assert response.status_code == 400
    sams.refresh_from_db()
    assert sams.user == people["sam"]


def test_the_api_adds_rules_only_on_the_callers_own_methods(people: dict[str, Any]) -> None:
    rita = api(people["rita"])
    ritas, sams = own_method(people, "rita"), own_method(people, "sam")

    mine = rita.post(
        RULES,
        {"contact_method": ritas.pk, "delay_minutes": 5, "urgency": "high"},
        content_type="application/json",
    )
    theirs = rita.post(RULES, {"contact_method": sams.pk}, content_type="application/json")

    assert mine.status_code == 201, mine.json()
    assert mine.json()["user"] == "rita"
    assert theirs.status_code == 400
    assert sams.rules.count() == 1


def test_the_api_refuses_to_move_a_rule_to_someone_elses_method(people: dict[str, Any]) -> None:
    ritas_rule = own_method(people, "rita").rules.get()

    response = api(people["root"]).patch(
        f"{RULES}{ritas_rule.pk}/",
        {"contact_method": own_method(people, "sam").pk},
        content_type="application/json",
    )

    assert response.status_code == 400
    ritas_rule.refresh_from_db()
    assert ritas_rule.contact_method == own_method(people, "rita")


def test_the_auditor_reads_everyones_through_the_api_and_writes_nothing(
    people: dict[str, Any],
) -> None:
    audrey = api(people["audrey"])
    sams = own_method(people, "sam")

    assert len(ids(audrey.get(METHODS))) == 2
    assert len(ids(audrey.get(RULES))) == 2
    assert audrey.delete(f"{METHODS}{sams.pk}/").status_code == 403
    own = {"kind": "email", "address": "audrey@example.com"}
    assert audrey.post(METHODS, own, content_type="application/json").status_code == 403
    assert ContactMethod.objects.count() == 2


def test_a_responder_deletes_their_own_method_and_its_rules(people: dict[str, Any]) -> None:
    ritas = own_method(people, "rita")

    assert api(people["rita"]).delete(f"{METHODS}{ritas.pk}/").status_code == 204

    assert not NotificationRule.objects.filter(user=people["rita"]).exists()
