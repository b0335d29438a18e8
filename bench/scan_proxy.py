"""A DynamoDB endpoint for benchmark 1's steady-state run: the domain table's Scan pages answered
from memory, every other request passed to moto's server. It also answers Query pages of a
due-date index the template does not have (DUE_INDEX), to measure that way of reading the
schedule against the Scan."""

from __future__ import annotations

import bisect
import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench import free_port

# The domain table's items are this large (about what benchmark 2 measures the checker writing),
# and a page of DynamoDB's Scan holds 1 MB of them, so that the scan takes as many pages as it would.
ITEM_BYTES = 740
SCAN_PAGE_BYTES = 1024 * 1024
# The due-date index measured against the Scan: every domain under one partition key
# (DUE_PARTITION), sorted by next_check_at, keys only. An index item is its keys (the table's
# `domain`, the partition attribute, `next_check_at` as PynamoDB writes it) and the 100 bytes
# DynamoDB adds to each.
DUE_INDEX = "due"
DUE_PARTITION = "schedule"
INDEX_ITEM_BYTES = (
    len("domain") + 16 + len("due_partition") + len(DUE_PARTITION) + len("next_check_at") + 31 + 100
)


class ScanProxy(ThreadingHTTPServer):
    """DynamoDB for the dispatcher's process: Scans of the domain table answered from memory,
    page by page as DynamoDB pages them (1 MB of items); every other request passed to moto.

    moto's Scan walks the table from its start for every page, which at 224,000 items of
    realistic size takes most of an hour; DynamoDB reads from where the page before stopped.
    """

    daemon_threads = True

    def __init__(self, moto_endpoint: str, table: str, schedule: list[tuple[str, str]]) -> None:
        self.moto_endpoint = moto_endpoint
        self.table = table
        self.schedule = schedule  # (domain, next_check_at as PynamoDB writes it), in key order
        self.position = {domain: index for index, (domain, _) in enumerate(schedule)}
        self.by_due = sorted((due, domain) for domain, due in schedule)
        self.per_page = max(1, SCAN_PAGE_BYTES // ITEM_BYTES)
        self.scans = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", free_port()), _ProxyHandler)
        self.endpoint = f"http://127.0.0.1:{self.server_port}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def scan_page(self, request: dict) -> dict:
        """One page of a Scan, or of one segment of a parallel Scan (TotalSegments contiguous
        ranges of the table, as DynamoDB splits its hash space)."""
        with self.lock:
            self.scans += 1
        total = int(request.get("TotalSegments", 1))
        segment = int(request.get("Segment", 0))
        end = len(self.schedule) * (segment + 1) // total
        start = len(self.schedule) * segment // total
        if request.get("ExclusiveStartKey"):
            start = self.position[request["ExclusiveStartKey"]["domain"]["S"]] + 1
        page = self.schedule[start : min(end, start + self.per_page)]
        items = [{"domain": {"S": domain}, "next_check_at": {"S": due}} for domain, due in page]
        items = _projected(_filtered(items, request), request)
        answer: dict = {"Items": items, "Count": len(items), "ScannedCount": len(page)}
        if start + len(page) < end:
            answer["LastEvaluatedKey"] = {"domain": {"S": page[-1][0]}}
        return answer

    def query_page(self, request: dict) -> dict:
        """One page of the due-date index's Query `next_check_at > :cutoff`, in the index's order."""
        with self.lock:
            self.scans += 1
        cutoff = request["ExpressionAttributeValues"][":cutoff"]["S"]
        start = bisect.bisect_right(self.by_due, (cutoff, "\uffff"))
        if request.get("ExclusiveStartKey"):
            key = request["ExclusiveStartKey"]
            start = bisect.bisect_right(self.by_due, (key["next_check_at"]["S"], key["domain"]["S"]))
        page = self.by_due[start : start + SCAN_PAGE_BYTES // INDEX_ITEM_BYTES]
        answer: dict = {
            "Items": [
                {"domain": {"S": d}, "next_check_at": {"S": due}, "due_partition": {"S": DUE_PARTITION}}
                for due, d in page
            ],
            "Count": len(page),
            "ScannedCount": len(page),
        }
        if start + len(page) < len(self.by_due):
            due, domain = page[-1]
            answer["LastEvaluatedKey"] = {
                "domain": {"S": domain},
                "next_check_at": {"S": due},
                "due_partition": {"S": DUE_PARTITION},
            }
        return answer


def _filtered(items: list[dict], request: dict) -> list[dict]:
    """The items a Scan's FilterExpression keeps, for the one filter the store sends:
    `next_check_at > :value` (its names and values as placeholders)."""
    expression = request.get("FilterExpression")
    if not expression:
        return items
    names = request.get("ExpressionAttributeNames", {})
    name, operator, value = expression.split()
    if names.get(name, name) != "next_check_at" or operator != ">":
        raise ValueError(f"the proxy answers no filter {expression!r}")
    cutoff = request["ExpressionAttributeValues"][value]["S"]
    return [item for item in items if item.get("next_check_at", {}).get("S", "") > cutoff]


def _projected(items: list[dict], request: dict) -> list[dict]:
    expression = request.get("ProjectionExpression")
    if not expression:
        return items
    names = request.get("ExpressionAttributeNames", {})
    wanted = [names.get(part.strip(), part.strip()) for part in expression.split(",")]
    return [{name: item[name] for name in wanted if name in item} for item in items]


class _ProxyHandler(BaseHTTPRequestHandler):
    server: ScanProxy

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        target = self.headers.get("X-Amz-Target", "")
        if target.endswith((".Scan", ".Query")):
            request = json.loads(body)
            if request.get("TableName") == self.server.table and target.endswith(".Scan"):
                self._send(200, json.dumps(self.server.scan_page(request)).encode(), {})
                return
            if request.get("TableName") == self.server.table and request.get("IndexName") == DUE_INDEX:
                self._send(200, json.dumps(self.server.query_page(request)).encode(), {})
                return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        forwarded = urllib.request.Request(
            self.server.moto_endpoint + self.path, body, headers, method="POST"
        )
        try:
            with urllib.request.urlopen(forwarded, timeout=60) as response:
                self._send(response.status, response.read(), dict(response.headers))
        except urllib.error.HTTPError as error:  # DynamoDB's errors are answers too
            self._send(error.code, error.read(), dict(error.headers))

    def _send(self, status: int, body: bytes, headers: dict) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                self.send_header(name, value)
        self.send_header("Content-Type", headers.get("Content-Type", "application/x-amz-json-1.0"))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass
