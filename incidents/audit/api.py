"""The auditors' export API, mounted at /api/v1/audit/ (config/urls.py).

- GET export/?kind=&format=&start=&end=[&team=&model=&actor=] streams the file;
  the response carries the export's id in `X-Watchstander-Export-Id`.
- GET exports/ lists the exports made, newest first (paginated like the rest of the API).
- GET exports/<id>/manifest/ is the manifest, once the export has finished.

Every endpoint needs `incidents.export_auditentry` (auditors, superusers); authentication is
the API's usual token (or session) auth, and the authenticated user is the one recorded.
"""

from collections.abc import Iterable
from typing import Any

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from rest_framework import status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.audit.exports import (
    ExportParameterError,
    can_export,
    export_begin,
    export_content_type,
    export_filename,
    export_request_from_params,
    export_stream,
    manifest_document,
)
from incidents.audit.models import AuditExport

app_name = "audit_api"


def export_response(export: AuditExport) -> StreamingHttpResponse:
    """The export as a download, streamed chunk by chunk (shared with the admin)."""
    response = StreamingHttpResponse(
        export_stream(export), content_type=export_content_type(export)
    )
    response["Content-Disposition"] = f'attachment; filename="{export_filename(export)}"'
    response["X-Watchstander-Export-Id"] = str(export.pk)
    response["X-Watchstander-Manifest"] = reverse("audit_api:export-manifest", args=[export.pk])
    response["Cache-Control"] = "no-store"  # audit data must not linger in shared caches
    return response


class CanExportAuditLog(BasePermission):
    message = "Exporting the audit log needs the auditor's export permission."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return can_export(request.user)


class FormatIsOurParameter(DefaultContentNegotiation):
    """`format` names the export's format here (csv, jsonl). DRF would read it as a renderer
    override and answer 404 for "csv"; these views only ever answer JSON (or a file)."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class AuditExportAPIView(APIView):
    permission_classes = [IsAuthenticated, CanExportAuditLog]
    content_negotiation_class = FormatIsOurParameter


class ExportDownloadView(AuditExportAPIView):
    def get(self, request: Request) -> Response | StreamingHttpResponse:
        try:
            export_request = export_request_from_params(request.query_params)
        except ExportParameterError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        export = export_begin(export_request, requested_by=request.user)  # type: ignore[arg-type]
        return export_response(export)


class ExportListView(AuditExportAPIView):
    def get(self, request: Request) -> Response:
        paginator = LimitOffsetPagination()
        exports = AuditExport.objects.select_related("requested_by").order_by("-created_at", "-pk")
        page: Any = paginator.paginate_queryset(exports, request, view=self)
        return paginator.get_paginated_response([_listed(export) for export in page])


def _listed(export: AuditExport) -> dict[str, Any]:
    return {
        **manifest_document(export),
        "finished": export.finished_at is not None,
        "manifest_url": reverse("audit_api:export-manifest", args=[export.pk]),
    }


class ExportManifestView(AuditExportAPIView):
    def get(self, request: Request, pk: int) -> Response:
        export = get_object_or_404(AuditExport.objects.select_related("requested_by"), pk=pk)
        if export.finished_at is None:
            return Response(
                {"detail": f"Export {pk} has not finished (it is running or was interrupted)."},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(manifest_document(export))


urlpatterns = [
    path("export/", ExportDownloadView.as_view(), name="export"),
    path("exports/", ExportListView.as_view(), name="export-list"),
    path("exports/<int:pk>/manifest/", ExportManifestView.as_view(), name="export-manifest"),
]
