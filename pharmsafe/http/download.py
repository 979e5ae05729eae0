"""An audit export as an HTTP download, for the API and the pages alike."""
from __future__ import annotations

from flask import Response

from pharmsafe.audit.export import EXPORT_FORMATS, AuditExport


def download(export: AuditExport, fmt: str) -> Response:
    """Streams the export as an attachment. The export records itself once its last byte is out;
    a stream broken midway raises inside the iterator, so the server aborts the response."""
    mimetype, extension = EXPORT_FORMATS[fmt]
    response = Response(export.stream(), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="audit-events.{extension}"'
    response.headers["Cache-Control"] = "no-store"
    return response
