"""The registry API v1 (docs/registry-api.yaml): the client lapsewatch calls registries with.

The reference registry that stands in for one locally and in tests is a tool
(lapsewatch_tools.registry), outside the runtime.
"""

from lapsewatch.registry.client import RegistryClient
from lapsewatch.registry.errors import (
    IdempotencyConflict,
    NoticesUnsupported,
    PermanentRegistryError,
    RegistryError,
    TransientRegistryError,
)
from lapsewatch.registry.keys import decision_key, notice_key
from lapsewatch.registry.models import (
    EmailDomain,
    NoticeRequest,
    NoticeResult,
    Page,
    UnverifyRequest,
    UnverifyResult,
)

__all__ = [
    "EmailDomain",
    "IdempotencyConflict",
    "NoticeRequest",
    "NoticeResult",
    "NoticesUnsupported",
    "Page",
    "PermanentRegistryError",
    "RegistryClient",
    "RegistryError",
    "TransientRegistryError",
    "UnverifyRequest",
    "UnverifyResult",
    "decision_key",
    "notice_key",
]
