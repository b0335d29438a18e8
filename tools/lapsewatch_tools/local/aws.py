"""AWS on this machine: moto's server on loopback, with the queues and tables that
template.yaml defines, created from its own definitions so that local and deployed never drift."""

from __future__ import annotations

import base64
import json
import logging
import urllib.request
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml

from lapsewatch_tools.local.environ import environment

REGION = "us-east-1"


class TemplateError(ValueError):
    pass


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !GetAtt, !Sub …) read as their long form."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref": value} if tag_suffix == "Ref" else {f"Fn::{tag_suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_CloudFormationLoader)


@dataclass
class LocalAws:
    """Start with `with LocalAws(template_path) as aws:`; it sets the AWS_* environment for
    boto3 and PynamoDB while it runs, and puts the old environment back after."""

    template_path: Path
    parameters: Mapping[str, str] = field(default_factory=dict)
    prefix: str = "lapsewatch-local"
    # Where the tables' items are kept between runs (`lapsewatch run --state DIR`): loaded on
    # entry, saved on exit. Queues are not kept: a run leaves them empty.
    state_dir: Path | None = None

    def __post_init__(self) -> None:
        self.template = load_template(self.template_path)
        self.names: dict[str, str] = {}  # logical id -> physical name or URL (what !Ref gives)
        self.arns: dict[str, str] = {}
        self._server: Any = None
        # The AWS_* environment this sets while it runs, put back on exit.
        self._environment = ExitStack()
        self._state_loaded = False

    def __enter__(self) -> LocalAws:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self._environment.enter_context(
            environment(
                {
                    "AWS_ENDPOINT_URL": self.endpoint,
                    "AWS_ACCESS_KEY_ID": "local",
                    "AWS_SECRET_ACCESS_KEY": "local",
                    "AWS_SESSION_TOKEN": None,
                    "AWS_DEFAULT_REGION": REGION,
                    "AWS_REGION": REGION,
                    "AWS_PROFILE": None,
                }
            )
        )
        try:
            self._reset()
            self._create_resources()
            if self.state_dir is not None:
                self._load_tables(self.state_dir)
                self._state_loaded = True
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        if self._server is not None:
            # Saved only over a state that was loaded whole: a failed start keeps the old one.
            if self.state_dir is not None and self._state_loaded:
                self._save_tables(self.state_dir)
            self._reset()
            self._server.stop()
            self._server = None
        self._environment.close()

    def _reset(self) -> None:
        """Empty moto's backends: a threaded server keeps them in this process, shared with any
        earlier server."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    # Resources ---------------------------------------------------------------------------------
    @property
    def resources(self) -> dict[str, dict]:
        return self.template["Resources"]

    def _of_type(self, kind: str) -> list[str]:
        return [name for name, resource in self.resources.items() if resource["Type"] == kind]

    def _create_resources(self) -> None:
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for logical in self._of_type("AWS::DynamoDB::Table"):
            self._create_table(dynamodb, logical)
        sqs = boto3.client("sqs", region_name=REGION)
        queues = self._of_type("AWS::SQS::Queue")
        # Dead-letter queues first: the others' redrive policies name their ARNs.
        for logical in sorted(queues, key=lambda name: "RedrivePolicy" in self._properties(name)):
            self._create_queue(sqs, logical)

    def _properties(self, logical: str) -> dict:
        return self.resources[logical].get("Properties", {})

    def _create_table(self, dynamodb, logical: str) -> None:
        props = self._properties(logical)
        name = f"{self.prefix}-{logical}"
        request = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if "GlobalSecondaryIndexes" in props:
            request["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        dynamodb.create_table(**request)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        self.names[logical] = name

    def _create_queue(self, sqs, logical: str) -> None:
        props = self._properties(logical)
        attributes = {}
        for key in (
            "VisibilityTimeout",
            "MessageRetentionPeriod",
            "DelaySeconds",
            "ReceiveMessageWaitTimeSeconds",
        ):
            if key in props:
                attributes[key] = str(self.resolve(props[key]))
        if "RedrivePolicy" in props:
            policy = self.resolve(props["RedrivePolicy"])
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": policy["deadLetterTargetArn"],
                    "maxReceiveCount": int(policy["maxReceiveCount"]),
                }
            )
        url = sqs.create_queue(QueueName=f"{self.prefix}-{logical}", Attributes=attributes)["QueueUrl"]
        self.names[logical] = url
        self.arns[logical] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    # Kept state ------------------------------------------------------------------------------
    def _table_file(self, state_dir: Path, logical: str) -> Path:
        return state_dir / "dynamodb" / f"{logical}.jsonl"

    def _load_tables(self, state_dir: Path) -> None:
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for logical in self._of_type("AWS::DynamoDB::Table"):
            path = self._table_file(state_dir, logical)
            if not path.is_file():
                continue
            with path.open(encoding="utf-8") as lines:
                items = [_decode_item(json.loads(line)) for line in lines if line.strip()]
            for start in range(0, len(items), 25):
                requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
                dynamodb.batch_write_item(RequestItems={self.names[logical]: requests})

    def _save_tables(self, state_dir: Path) -> None:
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for logical in self._of_type("AWS::DynamoDB::Table"):
            path = self._table_file(state_dir, logical)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial")
            with partial.open("w", encoding="utf-8") as out:
                for page in dynamodb.get_paginator("scan").paginate(TableName=self.names[logical]):
                    for item in page["Items"]:
                        out.write(json.dumps(_encode_item(item), separators=(",", ":")) + "\n")
            # Whole files only: a run stopped half-way leaves the previous day's state.
            partial.replace(path)

    # Intrinsics --------------------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        """Resolve the intrinsics the template uses where the local run reads it."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return self._ref(value["Ref"])
        if set(value) == {"Fn::GetAtt"}:
            logical, attribute = value["Fn::GetAtt"]
            if attribute == "Arn" and logical in self.arns:
                return self.arns[logical]
            if attribute == "QueueName" and logical in self.names:
                return self.names[logical].rsplit("/", 1)[-1]
            raise TemplateError(f"cannot resolve !GetAtt {logical}.{attribute} locally")
        if set(value) == {"Fn::FindInMap"}:
            mapping, key, attribute = (self.resolve(v) for v in value["Fn::FindInMap"])
            return self.template["Mappings"][mapping][key][attribute]
        return {k: self.resolve(v) for k, v in value.items()}

    def _ref(self, name: str) -> Any:
        if name in self.names:
            return self.names[name]
        if name in self.parameters:
            return self.parameters[name]
        parameter = self.template.get("Parameters", {}).get(name)
        if parameter is not None:
            return parameter.get("Default", "")
        if name == "AWS::Region":
            return REGION
        raise TemplateError(f"cannot resolve !Ref {name} locally")

    # Functions ---------------------------------------------------------------------------------
    def function_environment(self, logical: str) -> dict[str, str]:
        """The function's environment as deployed: Globals merged with its own variables."""
        variables = dict(
            self.template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        )
        own = self._properties(logical).get("Environment", {}).get("Variables", {})
        variables.update(own)
        return {name: str(self.resolve(value)) for name, value in variables.items()}

    def function_setting(self, logical: str, name: str) -> Any:
        own = self._properties(logical)
        if name in own:
            return self.resolve(own[name])
        return self.resolve(self.template.get("Globals", {}).get("Function", {}).get(name))

    def sqs_source(self, logical: str) -> SqsSource:
        """The function's SQS event source mapping as template.yaml configures it."""
        for event in self._properties(logical).get("Events", {}).values():
            if event.get("Type") != "SQS":
                continue
            props = event["Properties"]
            queue = props["Queue"]["Fn::GetAtt"][0]
            queue_props = self._properties(queue)
            redrive = self.resolve(queue_props.get("RedrivePolicy", {}))
            return SqsSource(
                queue_url=self.names[queue],
                queue_arn=self.arns[queue],
                batch_size=int(self.resolve(props.get("BatchSize", 10))),
                report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                max_concurrency=int(
                    self.resolve(props.get("ScalingConfig", {}).get("MaximumConcurrency", 2))
                ),
                visibility_timeout=int(self.resolve(queue_props.get("VisibilityTimeout", 30))),
                max_receives=int(redrive["maxReceiveCount"]) if redrive else None,
                dead_letter_url=self._queue_by_arn(redrive.get("deadLetterTargetArn")) if redrive else None,
            )
        raise TemplateError(f"{logical} has no SQS event source")

    def _queue_by_arn(self, arn: str | None) -> str | None:
        for logical, queue_arn in self.arns.items():
            if queue_arn == arn:
                return self.names[logical]
        return None


@dataclass(frozen=True, slots=True)
class SqsSource:
    queue_url: str
    queue_arn: str
    batch_size: int
    report_failures: bool
    max_concurrency: int
    visibility_timeout: int
    max_receives: int | None
    dead_letter_url: str | None


# DynamoDB items as JSON: binary values (the "B" and "BS" types) in base64.
def _encode_item(item: dict) -> dict:
    return {name: _encode_value(value) for name, value in item.items()}


def _encode_value(value: dict) -> dict:
    ((kind, data),) = value.items()
    if kind == "B":
        return {"B64": base64.b64encode(data).decode()}
    if kind == "BS":
        return {"BS64": [base64.b64encode(d).decode() for d in data]}
    if kind == "M":
        return {"M": _encode_item(data)}
    if kind == "L":
        return {"L": [_encode_value(v) for v in data]}
    return value


def _decode_item(item: dict) -> dict:
    return {name: _decode_value(value) for name, value in item.items()}


def _decode_value(value: dict) -> dict:
    ((kind, data),) = value.items()
    if kind == "B64":
        return {"B": base64.b64decode(data)}
    if kind == "BS64":
        return {"BS": [base64.b64decode(d) for d in data]}
    if kind == "M":
        return {"M": _decode_item(data)}
    if kind == "L":
        return {"L": [_decode_value(v) for v in data]}
    return value
