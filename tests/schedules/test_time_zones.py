"""A schedule's time zone is an IANA zone, never an alias of the server's own zone: nothing may
depend on how the host is configured. The model, the API and the admin's choices agree, and the
zone directory is read once."""

from collections.abc import Iterator
from typing import Any
from unittest import mock
from zoneinfo import available_timezones

import pytest
from django.core.exceptions import ValidationError

from schedules import models
from schedules.models import Schedule, Team, time_zone_names, validate_time_zone
from tests.factories import TeamFactory
from tests.schedules.test_admin import Role, client_for, member, scrape, url
from tests.schedules.test_api import call

pytestmark = pytest.mark.django_db

SERVER_ALIASES = ["localtime", "posixrules", "Factory"]


@pytest.fixture
def team() -> Team:
    team: Team = TeamFactory(name="Platform")
    return team


@pytest.mark.parametrize("name", [*SERVER_ALIASES, "right/UTC", "posix/Europe/Berlin", "Mars/Base"])
def test_names_that_are_not_iana_zones_are_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="is not an IANA time zone name"):
        validate_time_zone(name)


@pytest.mark.parametrize("name", ["Europe/Berlin", "UTC", "America/Argentina/Buenos_Aires"])
def test_iana_zones_are_accepted(name: str) -> None:
    validate_time_zone(name)


def test_every_zone_of_the_system_but_the_aliases_is_offered() -> None:
    assert time_zone_names() == available_timezones() - set(SERVER_ALIASES)


@pytest.fixture
def counted_reads() -> Iterator[mock.MagicMock]:
    """available_timezones(), counted, with the cache of zone names emptied before and after."""
    time_zone_names.cache_clear()
    with mock.patch.object(models, "available_timezones", wraps=available_timezones) as reads:
        yield reads
    time_zone_names.cache_clear()


def test_the_zone_directory_is_read_once(counted_reads: mock.MagicMock) -> None:
    for name in ["Europe/Berlin", "Asia/Tokyo", "UTC"]:
        validate_time_zone(name)
    with pytest.raises(ValidationError):
        validate_time_zone("localtime")

    assert counted_reads.call_count == 1


def test_the_admin_offers_exactly_the_zones_the_model_accepts(team: Team) -> None:
    maria = member(team, "maria", Role.MANAGER)

    form = scrape(client_for(maria), url("schedule_add"), "schedule_form")

    # The blank first: a zone stored around validation is chosen again, not the list's first.
    blank, *zones = form.options["time_zone"]
    assert (blank, set(zones)) == ("", time_zone_names())
    assert form.data["time_zone"] == "UTC"  # a new schedule's default
    layer_blank, *layer_zones = form.options["rotations-__prefix__-time_zone"]
    assert (layer_blank, set(layer_zones)) == ("", time_zone_names())  # "": the schedule's


@pytest.mark.parametrize("name", SERVER_ALIASES)
def test_the_admin_and_the_api_refuse_a_server_alias(team: Team, name: str) -> None:
    maria = member(team, "maria", Role.MANAGER)
    client = client_for(maria)
    data: dict[str, Any] = scrape(client, url("schedule_add"), "schedule_form").data
    data.update({"team": str(team.pk), "name": "Primary", "time_zone": name})

    posted = client.post(url("schedule_add"), data)
    created = call(
        "POST", maria, "/api/v1/schedules/", {"name": "P", "team": team.pk, "time_zone": name}
    )

    assert posted.status_code == 200  # the form again
    assert created.status_code == 400
    assert "time_zone" in created.json()
    assert not Schedule.objects.exists()
