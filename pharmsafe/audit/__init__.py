"""The audit trail: the only writer of audit events (chain), verification, export."""
from pharmsafe.audit.chain import AuditImmutableError, append_event, canonical_json, event_to_dict, format_instant

__all__ = ["AuditImmutableError", "append_event", "canonical_json", "event_to_dict", "format_instant"]
