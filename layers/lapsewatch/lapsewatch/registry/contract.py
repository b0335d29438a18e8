"""The limits and vocabulary of the registry API v1 (docs/registry-api.yaml), in one place.

Both sides of the contract read them: the client here, which checks its requests before they go
out, and the reference registry (lapsewatch_tools.registry), which refuses what breaks them. One
definition keeps the two from drifting apart. It lives in the runtime because the tools may
import the runtime, never the other way round.
"""

from __future__ import annotations

from lapsewatch.lifecycle import UNVERIFIABLE

# The page size a listing call gets when it names none, and the most it may ask for.
DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
MAX_IDEMPOTENCY_KEY = 255
# Why a domain's addresses may be unverified: the lifecycles that make it unverifiable.
UNVERIFY_REASONS = frozenset(str(lifecycle) for lifecycle in UNVERIFIABLE)
# The unverify body's fields: every one is required, and no other is allowed.
UNVERIFY_FIELDS = frozenset({"domain", "include_subdomains", "verified_before", "reason", "evidence"})
# Early warning: the stages a notice may name, and the notify body's fields (all required).
NOTICE_STAGES = frozenset({"grace", "hold"})
NOTIFY_FIELDS = frozenset({"domain", "stage", "expires_at", "include_subdomains", "evidence"})
