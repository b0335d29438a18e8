"""The data layer: each store works on the tables it was built with, and on no others."""

from datetime import UTC, datetime

import boto3
import pytest

from lapsewatch.sweep.records import DomainState
from lapsewatch.sweep.store import RunStore

pytestmark = pytest.mark.integration


def test_two_stores_on_two_tables_never_share_a_binding(sweep):
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName="another-domains-table",
        KeySchema=[{"AttributeName": "domain", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "domain", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    deployed = sweep.runtime.store
    other = RunStore(domains_table="another-domains-table", runs_table=sweep.tables["runs_table"])
    now = datetime(2026, 11, 21, tzinfo=UTC)

    # The logic builds plain items; each store writes them to its own table.
    other.save_domain_state(DomainState("example.test", lifecycle="active", last_checked_at=now))

    assert other.domain_state("example.test").lifecycle == "active"
    assert deployed.domain_state("example.test") is None
    assert DomainState.Meta.table_name == "lapsewatch-domains"  # the model itself is never rebound
