"""SQLAlchemy models, one module per aggregate. Importing this package registers them all."""
from pharmsafe.models.audit import AuditCheckpoint, AuditEvent, SchedulerHeartbeat
from pharmsafe.models.evidence import Attestation, LabResult, PregnancyTest, TransferIn
from pharmsafe.models.interop import ExternalIdentifier
from pharmsafe.models.notifications import Notification
from pharmsafe.models.prescriptions import Authorization, Decision, Dispense, Prescription
from pharmsafe.models.registry import Patient, Pharmacy, Prescriber
from pharmsafe.models.users import ApiToken, IdempotencyRecord, PasswordLink, SignInCounter, User, WebSession

__all__ = [
    "ApiToken", "Attestation", "AuditCheckpoint", "AuditEvent", "Authorization", "Decision",
    "Dispense", "ExternalIdentifier", "IdempotencyRecord", "LabResult", "Notification", "PasswordLink", "Patient",
    "Pharmacy", "PregnancyTest",
    "Prescriber", "Prescription", "SchedulerHeartbeat", "SignInCounter", "TransferIn", "User", "WebSession",
]
