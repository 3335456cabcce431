from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import ProtectedError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from incidents.services.errors import DomainError, InvalidTransition


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Domain errors become 4xx JSON with a readable message; the rest is DRF's."""
    if isinstance(exc, InvalidTransition):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DomainError):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ProtectedError):
        names = ", ".join(sorted({str(obj) for obj in list(exc.protected_objects)[:5]}))
        return Response(
            {"detail": f"Still in use by: {names}. Remove those first."},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, ObjectDoesNotExist):
        return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    return drf_exception_handler(exc, context)
