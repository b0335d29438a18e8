"""PynamoDB plumbing for the store (`lapsewatch.sweep.store`): a model bound to a table of its
own, and conditional writes that answer whether their condition held."""

from __future__ import annotations

from collections.abc import Callable

from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.models import Model


def bound_model[M: Model](model: type[M], table_name: str) -> type[M]:
    """`model` on the table `table_name`: a subclass of its own, so that two stores on two pairs of
    tables (a function's, a test's) never share a binding."""
    return type(model.__name__, (model,), {"Meta": type("Meta", (), {"table_name": table_name})})


def if_condition_holds(write: Callable[[], object]) -> bool:
    """Make a conditional write: True when it was made, False when its condition failed."""
    try:
        write()
    except (PutError, UpdateError) as exc:
        if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def transaction_cancelled_by_condition(exc: TransactWriteError) -> bool:
    reasons = getattr(exc, "cancellation_reasons", None) or []
    return any(reason is not None and reason.code == "ConditionalCheckFailed" for reason in reasons)
