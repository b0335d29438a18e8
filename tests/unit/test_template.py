"""template.yaml as it deploys: a key the alarms can publish with, retained logs, least privilege,
a failure destination for the dispatcher, a runbook entry for every alarm, samconfig.toml, and
the metrics the alarms watch."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from lapsewatch.sweep import observability
from lapsewatch_tools.local.aws import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_TEXT = (ROOT / "template.yaml").read_text(encoding="utf-8")
TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES: dict[str, dict] = TEMPLATE["Resources"]
PARAMETERS: dict[str, dict] = TEMPLATE["Parameters"]

# The only actions allowed on every resource: AWS offers no narrower one for them.
WILDCARD_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "cloudwatch:PutMetricData",
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}
# SAM policy templates that grant more than a function uses (all of a table's actions, SQS
# polling on every queue): each function states its own actions instead.
BROAD_POLICY_TEMPLATES = {
    "SQSPollerPolicy",
    "SQSSendMessagePolicy",
    "DynamoDBCrudPolicy",
    "DynamoDBReadPolicy",
    "DynamoDBWritePolicy",
    "AWSSecretsManagerGetSecretValuePolicy",
}
SQS_POLLING = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


def of_type(kind: str) -> dict[str, dict]:
    return {name: resource for name, resource in RESOURCES.items() if resource["Type"] == kind}


FUNCTIONS = of_type("AWS::Serverless::Function")
ALARMS = of_type("AWS::CloudWatch::Alarm")


def props(logical: str) -> dict:
    return RESOURCES[logical].get("Properties", {})


def target(reference: dict) -> str:
    """The logical id a !Ref or !GetAtt names."""
    if "Ref" in reference:
        return reference["Ref"]
    return reference["Fn::GetAtt"][0]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def branches(value) -> Iterator:
    """A value, or each branch of an !If (AWS::NoValue left out)."""
    if isinstance(value, dict) and "Fn::If" in value:
        for branch in value["Fn::If"][1:]:
            yield from branches(branch)
    elif value != {"Ref": "AWS::NoValue"}:
        yield value


def statements(document: dict) -> Iterator[dict]:
    for statement in as_list(document.get("Statement", [])):
        yield from branches(statement)


def iam_statements() -> Iterator[tuple[str, dict]]:
    """Every statement of every identity policy in the template, with where it is."""
    for name, resource in RESOURCES.items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                for statement in statements(policy["PolicyDocument"]):
                    yield name, statement
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for statement in statements(properties["PolicyDocument"]):
                yield name, statement
        elif resource["Type"] == "AWS::Serverless::Function":
            for policy in as_list(properties.get("Policies", [])):
                for item in branches(policy):
                    if isinstance(item, dict) and "Statement" in item:
                        for statement in statements(item):
                            yield name, statement


def role_statements(function: str) -> list[dict]:
    role = target(props(function)["Role"])
    assert RESOURCES[role]["Type"] == "AWS::IAM::Role"
    return [
        statement
        for policy in props(role).get("Policies", [])
        for statement in statements(policy["PolicyDocument"])
    ]


def allows(function: str, action: str, resource: dict | str) -> bool:
    return any(
        statement["Effect"] == "Allow"
        and action in as_list(statement["Action"])
        and resource in as_list(statement["Resource"])
        for statement in role_statements(function)
    )


# The alarm topic's key ---------------------------------------------------------------------------
def test_the_alarm_topic_has_a_rotated_key_cloudwatch_may_use():
    key = target(props("AlarmTopic")["KmsMasterKeyId"])
    assert RESOURCES[key]["Type"] == "AWS::KMS::Key"
    assert props(key)["EnableKeyRotation"] is True
    policy = list(statements(props(key)["KeyPolicy"]))
    cloudwatch = [s for s in policy if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert len(cloudwatch) == 1
    assert cloudwatch[0]["Effect"] == "Allow"
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(as_list(cloudwatch[0]["Action"]))
    assert cloudwatch[0]["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    # The account keeps administering it (a key policy without this locks everyone out).
    account = [s for s in policy if "AWS" in s.get("Principal", {})]
    assert account and account[0]["Action"] == "kms:*"
    aliases = of_type("AWS::KMS::Alias").values()
    assert any(target(alias["Properties"]["TargetKeyId"]) == key for alias in aliases)


def test_no_aws_managed_sns_key_anywhere():
    # CloudWatch alarms cannot publish to a topic under it.
    assert "alias/aws/sns" not in TEMPLATE_TEXT


def test_every_alarm_notifies_the_topic():
    assert ALARMS
    for name, alarm in ALARMS.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["Properties"]["AlarmDescription"].strip(), name


# Logs and concurrency ------------------------------------------------------------------------------
def test_every_function_logs_to_a_group_of_its_own_with_retention():
    assert PARAMETERS["LogRetentionDays"]["Default"] == 90
    assert 90 in PARAMETERS["LogRetentionDays"]["AllowedValues"]
    groups = []
    for name in FUNCTIONS:
        group = target(props(name)["LoggingConfig"]["LogGroup"])
        assert RESOURCES[group]["Type"] == "AWS::Logs::LogGroup", name
        assert props(group)["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        # Lambda's own name for it, so that `aws logs tail /aws/lambda/<function>` finds it.
        function_name = props(name)["FunctionName"]["Fn::Sub"]
        assert props(group)["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/{function_name}"}, name
        groups.append(group)
    assert len(set(groups)) == len(FUNCTIONS)


def test_two_final_steps_never_run_at_once():
    assert props("FinalFunction")["ReservedConcurrentExecutions"] == 1


# Least privilege -----------------------------------------------------------------------------------
def test_functions_run_as_roles_of_their_own_without_broad_policy_templates():
    for name in FUNCTIONS:
        assert "Role" in props(name), name
        for policy in as_list(props(name).get("Policies", [])):
            for item in branches(policy):
                names = {item} if isinstance(item, str) else set(item)
                assert not names & BROAD_POLICY_TEMPLATES, (name, names)
    roles = [target(props(name)["Role"]) for name in FUNCTIONS]
    assert len(set(roles)) == len(FUNCTIONS)
    for role in roles:
        # Managed policies (AWSLambdaBasicExecutionRole, AWSLambdaSQSQueueExecutionRole …) act on "*".
        assert "ManagedPolicyArns" not in props(role), role


def test_only_actions_aws_cannot_scope_act_on_every_resource():
    found = list(iam_statements())
    assert found
    for where, statement in found:
        actions = set(as_list(statement["Action"]))
        assert not any(action == "*" or action.endswith(":*") for action in actions), (where, actions)
        if "*" in as_list(statement["Resource"]):
            assert actions <= WILDCARD_ACTIONS, (where, actions - WILDCARD_ACTIONS)


def test_each_function_may_poll_its_own_queue_only():
    for name in FUNCTIONS:
        sources = {
            target(event["Properties"]["Queue"])
            for event in props(name).get("Events", {}).values()
            if event["Type"] == "SQS"
        }
        polled = {
            target(resource)
            for statement in role_statements(name)
            if SQS_POLLING & set(as_list(statement["Action"]))
            for resource in as_list(statement["Resource"])
        }
        assert polled == sources, name
        for queue in sources:
            for action in SQS_POLLING:
                assert allows(name, action, {"Fn::GetAtt": [queue, "Arn"]}), (name, action)


def test_only_the_final_function_queries_an_index_and_only_the_outstanding_one():
    index = {"Fn::Sub": "${RunsTable.Arn}/index/outstanding"}
    assert allows("FinalFunction", "dynamodb:Query", index)
    for name in FUNCTIONS:
        indexes = [
            resource
            for statement in role_statements(name)
            for resource in as_list(statement["Resource"])
            if "/index/" in str(resource)
        ]
        assert indexes == ([index] if name == "FinalFunction" else []), name


def test_every_function_that_reads_a_secret_may_decrypt_it_with_the_optional_key():
    assert PARAMETERS["SecretsKmsKeyArn"]["Default"] == ""
    for name in FUNCTIONS:
        reads = any(
            statement["Action"] == "secretsmanager:GetSecretValue" for statement in role_statements(name)
        )
        decrypts = allows(name, "kms:Decrypt", {"Ref": "SecretsKmsKeyArn"})
        assert reads == decrypts, name


def test_the_dispatcher_may_read_the_registry_token_and_no_provider_secret():
    secrets = {
        target(statement["Resource"])
        for statement in role_statements("DispatcherFunction")
        if "secretsmanager:GetSecretValue" in as_list(statement["Action"])
    }
    assert secrets == {"RegistryTokenSecretArn"}
    for name in ("CheckerFunction", "ManualFunction"):
        assert allows(name, "secretsmanager:GetSecretValue", {"Ref": "FastlySecretArn"}), name
        assert allows(name, "secretsmanager:GetSecretValue", {"Ref": "DomainrSecretArn"}), name


def test_the_checker_writes_only_the_attributes_of_what_it_finds_never_a_decisions_outcome():
    from lapsewatch.sweep.records import CHECKER_RUN_ATTRIBUTES

    runs = {"Fn::GetAtt": ["RunsTable", "Arn"]}
    writes = [
        statement
        for statement in role_statements("CheckerFunction")
        if runs in as_list(statement["Resource"])
        and {"dynamodb:PutItem", "dynamodb:UpdateItem"} & set(as_list(statement["Action"]))
    ]
    [write] = writes
    condition = write["Condition"]
    allowed = set(condition["ForAllValues:StringEquals"]["dynamodb:Attributes"])
    assert allowed == CHECKER_RUN_ATTRIBUTES
    assert not allowed & {"operator", "settled_at", "outstanding", "state", "hold_reason", "attempts"}
    assert set(condition["StringEqualsIfExists"]["dynamodb:ReturnValues"]) == {
        "NONE",
        "UPDATED_OLD",
        "UPDATED_NEW",
    }


# The dispatcher's failures ---------------------------------------------------------------------------
def test_a_failed_scheduled_dispatch_lands_in_a_queue_with_an_alarm():
    config = props("DispatcherFunction")["EventInvokeConfig"]
    on_failure = config["DestinationConfig"]["OnFailure"]
    assert on_failure["Type"] == "SQS"
    queue = target(on_failure["Destination"])
    assert RESOURCES[queue]["Type"] == "AWS::SQS::Queue"
    assert props(queue)["SqsManagedSseEnabled"] is True
    assert props(queue)["MessageRetentionPeriod"] == 14 * 86400
    # A retry would find the failed run's 16-minute lease held and end as a duplicate.
    assert config["MaximumRetryAttempts"] == 0
    assert allows("DispatcherFunction", "sqs:SendMessage", {"Fn::GetAtt": [queue, "Arn"]})
    schedule = props("DispatcherFunction")["Events"]["Daily"]["Properties"]
    assert target(schedule["DeadLetterConfig"]["Arn"]) == queue
    watched = [
        alarm["Properties"]["Dimensions"]
        for alarm in ALARMS.values()
        if alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    ]
    assert [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}] in watched


# The runbook ---------------------------------------------------------------------------------------
def test_every_alarm_has_a_runbook_entry_under_its_logical_id():
    runbook = (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^## (\S+)\s*$", runbook, flags=re.MULTILINE))
    missing = sorted(set(ALARMS) - headings)
    assert not missing, f"docs/runbook.md has no '## <alarm>' entry for {missing}"


# samconfig.toml ------------------------------------------------------------------------------------
def test_samconfig_parses_and_names_the_stack():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    assert config["version"] == 0.1
    assert config["default"]["global"]["parameters"]["stack_name"] == "lapsewatch"
    deploy = config["default"]["deploy"]["parameters"]
    assert "CAPABILITY_IAM" in as_list(deploy["capabilities"])
    # Every parameter it overrides exists in the template.
    overrides = re.findall(r"(\w+)=", deploy.get("parameter_overrides", ""))
    assert set(overrides) <= set(PARAMETERS)
    assert config["default"]["validate"]["parameters"]["lint"] is True


# The metrics the alarms watch --------------------------------------------------------------------
def summary(*, checked: int, unknown: int, unprotected: int, held: bool = False) -> dict:
    return {
        "held": held,
        "held_domains": ["held.example"] if held else [],
        "held_count": 1 if held else 0,
        "domains": {"checked": checked, "invalid": 0, "refused": 0},
        "unsafe": [],
        "unsafe_count": 0,
        "unverify": {"requested": 0, "emails_unverified": 0, "failed": 0},
        "withheld": {"cancelled": 0, "deferred": 0, "superseded": 0, "held": 0, "unsent": 0, "errors": 0},
        "unprotected": {"domains": unprotected, "addresses": unprotected},
        "unknown_streaks": {"count": 0, "examples": []},
        "notices": {"sent": 0, "failed": 0, "unsupported": 0},
        "by_lifecycle": {"active": checked - unknown, "unknown": unknown} if unknown else {"active": checked},
    }


@pytest.fixture
def emitted():
    observability.metrics.clear_metrics()
    yield observability.metrics.metric_set
    observability.metrics.clear_metrics()


def test_every_lapsewatch_metric_an_alarm_watches_is_emitted(emitted):
    observability.emit_run_summary(summary(checked=100, unknown=30, unprotected=10))
    watched = {
        alarm["Properties"]["MetricName"]
        for alarm in ALARMS.values()
        if alarm["Properties"].get("Namespace") == "Lapsewatch"
    }
    assert "UnknownShare" in watched
    assert watched <= set(emitted)


@pytest.mark.parametrize(
    ("checked", "unknown", "unprotected", "share"),
    [
        (100, 30, 10, 22.22),  # 20 of the 90 served domains
        (100, 10, 10, 0.0),  # the unknown are the unserved ones alone
        (100, 0, 0, 0.0),
        (4, 4, 0, 100.0),
        (10, 10, 10, None),  # nothing served: no share
        (0, 0, 0, None),
    ],
)
def test_unknown_share_leaves_out_the_domains_no_provider_serves(checked, unknown, unprotected, share):
    counts = summary(checked=checked, unknown=unknown, unprotected=unprotected)
    assert observability.unknown_share(counts) == share


def test_the_unknown_share_is_emitted_as_a_percentage(emitted):
    observability.emit_run_summary(summary(checked=100, unknown=30, unprotected=10))
    assert emitted["UnknownShare"]["Unit"] == "Percent"
    assert emitted["UnknownShare"]["Value"] == [22.22]


def test_no_unknown_share_without_served_domains(emitted):
    observability.emit_run_summary(summary(checked=5, unknown=5, unprotected=5))
    assert "UnknownShare" not in emitted
    assert PARAMETERS["UnknownShareThreshold"]["Default"] == 20


# Queue policies ------------------------------------------------------------------------------------
# Who may send to each queue: the function roles that produce its messages (and for the
# dispatcher's failure queue, the schedule's rule); the dead-letter queues, nobody.
QUEUE_PRODUCERS = {
    "DispatchQueue": {"DispatcherRole"},
    "CheckQueue": {"DispatcherRole"},
    "FinalQueue": {"CheckerRole", "DispatcherRole"},
    "DispatcherFailureQueue": {"DispatcherRole"},
    "CheckDeadLetterQueue": set(),
    "FinalDeadLetterQueue": set(),
}


def queue_policy_statements(queue: str) -> list[dict]:
    statements = []
    for policy in of_type("AWS::SQS::QueuePolicy").values():
        if {"Ref": queue} in policy["Properties"]["Queues"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_every_queue_has_a_policy_denying_senders_other_than_its_producers():
    assert set(of_type("AWS::SQS::Queue")) == set(QUEUE_PRODUCERS)
    for queue, producers in QUEUE_PRODUCERS.items():
        denials = [
            s
            for s in queue_policy_statements(queue)
            if s["Effect"] == "Deny" and s["Principal"] == "*" and "sqs:SendMessage" in as_list(s["Action"])
        ]
        assert len(denials) == 1, queue
        (deny,) = denials
        assert deny["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}
        condition = deny.get("Condition", {})
        if producers:
            exempt = as_list(condition["ArnNotEquals"]["aws:PrincipalArn"])
            assert {target(role) for role in exempt} == producers, queue
        else:
            # Any request from a principal is denied; only SQS's own redrive moves messages here.
            assert condition == {"Null": {"aws:PrincipalArn": "false"}}, queue
        for allow in (s for s in queue_policy_statements(queue) if s["Effect"] == "Allow"):
            principals = allow["Principal"]
            if "AWS" in principals:
                assert {target(role) for role in as_list(principals["AWS"])} <= producers, queue


def test_no_function_but_a_producer_may_send_to_a_queue():
    for queue, producers in QUEUE_PRODUCERS.items():
        for function in FUNCTIONS:
            if target(props(function)["Role"]) not in producers:
                assert not allows(function, "sqs:SendMessage", {"Fn::GetAtt": [queue, "Arn"]}), (
                    function,
                    queue,
                )


def test_the_final_steps_reserve_is_a_limit_every_function_reads():
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["LAPSEWATCH_FINAL_RESERVE_SECONDS"] == {
        "Fn::FindInMap": ["Limits", "Final", "ReserveSeconds"]
    }
    assert TEMPLATE["Mappings"]["Limits"]["Final"]["ReserveSeconds"] < props("FinalFunction")["Timeout"]


def _declared_settings() -> dict:
    """Every declared setting, by the variable it is read from."""
    from lapsewatch.providers.factory import ProviderSettings
    from lapsewatch.setting import declared
    from lapsewatch.sweep.settings import SweepSettings

    return {
        s.env: (cls, field.name, s) for cls in (SweepSettings, ProviderSettings) for field, s in declared(cls)
    }


def test_every_template_default_is_the_declared_default():
    from lapsewatch.setting import default_of

    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    settings = _declared_settings()
    compared = set()
    for variable, value in variables.items():
        if variable not in settings:
            continue  # the tables and queues, and Powertools' own
        cls, name, declared = settings[variable]
        if "Fn::FindInMap" in value:
            mapping, key, attribute = value["Fn::FindInMap"]
            default = TEMPLATE["Mappings"][mapping][key][attribute]
        elif "Ref" in value and value["Ref"] in PARAMETERS:
            assert declared.parameter == value["Ref"], variable
            if "Default" not in PARAMETERS[value["Ref"]]:
                continue  # a parameter every stack must give: RegistryUrl, RegistryTokenSecretArn
            default = PARAMETERS[value["Ref"]]["Default"]
        else:
            continue
        # As the function reads the template's text (a blank one reads as the declared default).
        text = str(default)
        read = declared.parse(text, variable) if declared.text_in({variable: text}) is not None else None
        assert read is None or read == default_of(cls, name), (variable, default)
        compared.add(variable)
    assert {"LAPSEWATCH_MAX_UNVERIFY", "LAPSEWATCH_SHARD_SIZE", "LAPSEWATCH_RDAP_RATE"} <= compared
    assert {"LAPSEWATCH_CHECK_MAX_RECEIVES", "LAPSEWATCH_FINAL_RESERVE_SECONDS"} <= compared


def test_every_parameter_a_setting_names_sets_its_variable():
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    for variable, (_, name, declared) in _declared_settings().items():
        if declared.parameter is not None:
            assert declared.parameter in PARAMETERS, name
            assert variables[variable] == {"Ref": declared.parameter}, name
