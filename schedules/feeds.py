"""iCal subscription feeds: the URLs, their secret tokens, and the views that serve them.

Calendar clients cannot log in, so the token in the URL is the credential: the views are
unauthenticated, answer 404 to any token they do not know (the same answer for a token that
never existed and one that was revoked), and rotating the token revokes every copy of the old
URL at once. What goes into a feed is schedules.ical's business.
"""

from typing import Any

from auditlog import get_logentry_model
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe

from schedules import ical
from schedules.models import PersonSettings, Schedule, new_feed_token
from schedules.oncall import UNCOMPUTABLE

CALENDAR_CONTENT_TYPE = "text/calendar; charset=utf-8"


def schedule_feed_url(schedule: Schedule) -> str:
    return settings.SITE_URL + reverse("schedule-feed", kwargs={"token": schedule.feed_token})


def person_feed_url(person: PersonSettings) -> str:
    return settings.SITE_URL + reverse("person-feed", kwargs={"token": person.feed_token})


def person_settings(user: Any) -> PersonSettings:
    """The person's settings, created with defaults (and a feed token) on first use."""
    person, _ = PersonSettings.objects.get_or_create(user=user)
    return person


@transaction.atomic
def rotate_feed_token(owner: Schedule | PersonSettings) -> None:
    """Give `owner` a new feed token: the old URL stops working at once, everywhere.

    The token is kept out of the audit log (it is a secret), so the ordinary change entry
    would be empty and auditlog would write none; the rotation is recorded explicitly, as an
    update of the field without its values, with the current request's actor."""
    owner.feed_token = new_feed_token()
    owner.save(update_fields=["feed_token"])
    entries = get_logentry_model().objects
    entries.log_create(
        owner,
        force_log=True,
        action=entries.model.Action.UPDATE,
        changes={"feed_token": ["(secret)", "(new secret)"]},
    )


@require_safe
def schedule_feed(request: HttpRequest, token: str) -> HttpResponse:
    schedule = get_object_or_404(Schedule, feed_token=token)
    try:
        body = ical.schedule_calendar(schedule, now=timezone.now())
    except UNCOMPUTABLE as error:
        # The schedule's state, not a server error; calendar apps keep what they had.
        message = f"The rules of {schedule} cannot be computed ({error}): ask its managers."
        return HttpResponse(message, status=409, content_type="text/plain; charset=utf-8")
    return calendar_response(body)


@require_safe
def person_feed(request: HttpRequest, token: str) -> HttpResponse:
    # A deactivated person's feed goes dark with their account.
    person = get_object_or_404(
        PersonSettings.objects.select_related("user"), feed_token=token, user__is_active=True
    )
    return calendar_response(ical.person_calendar(person.user, now=timezone.now()))


def calendar_response(body: bytes) -> HttpResponse:
    response = HttpResponse(body, content_type=CALENDAR_CONTENT_TYPE)
    # The URL is a secret: no shared cache may keep (and hand out) what it returns.
    patch_cache_control(response, private=True, max_age=300)
    return response
