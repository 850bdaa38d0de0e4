"""A command-line client of a Berth console: deploy, update, redeploy, and follow releases with progress lines.

    export BERTH_URL=http://127.0.0.1:8000 BERTH_ACCESS_KEY=<AccessKeyId>:<AccessKeySecret>
    python -m console.cli deploy --cluster 1 --name shop -f shop.yml [--var KEY=VALUE]... [--plan [--json]]
    python -m console.cli update --cluster 1 --name shop [-f shop.yml] [--var KEY=VALUE]... [--plan [--json]]
    python -m console.cli redeploy --cluster 1 --name shop
    python -m console.cli follow RELEASE_ID

It talks to the REST API and follows the release over the live websocket (signed in with the same
access key): one line per event, container and finished pull, and a line per second per running pull.
Exit status 0 when the release succeeds, 1 when it fails, 2 on a usage or HTTP error. No Django needed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TextIO
from urllib.parse import urlsplit

from clusters.pulls import human_bytes  # pure, no Django

TERMINAL = {"successful", "failed", "canceled"}


class ClientError(Exception):
    """The console refused the request; the message is its answer."""


class Client:
    """``Authorization: Bearer`` calls to one console."""

    def __init__(self, url: str, key: str, timeout: float = 60) -> None:
        self.url, self.key, self.timeout = url.rstrip("/"), key, timeout

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - the console's URL
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise ClientError(f"{exc.code}: {exc.read().decode(errors='replace')[:2000]}") from exc

    def websocket_url(self) -> str:
        parts = urlsplit(self.url)
        return ("wss://" if parts.scheme == "https" else "ws://") + parts.netloc + "/ws/live/"

    def follow(self, release: dict[str, Any], out: Callable[[str], None] | None = None, limit: float = 3600) -> dict:
        """Wait for ``release`` to end, printing progress lines through ``out``; return its last state."""
        return asyncio.run(self._follow(release, out or (lambda line: None), limit))

    async def _follow(self, release: dict[str, Any], out: Callable[[str], None], limit: float) -> dict:
        import websockets

        parts = urlsplit(self.url)
        headers = {"Authorization": f"Bearer {self.key}"}
        lines = Lines(release["id"], out)
        async with websockets.connect(
            self.websocket_url(), origin=f"{parts.scheme}://{parts.netloc}", additional_headers=headers
        ) as ws:
            subscribe = {"action": "subscribe", "type": "application", "id": release["application_id"], "since": 0}
            await ws.send(json.dumps(subscribe))
            async with asyncio.timeout(limit):
                while True:
                    message = json.loads(await ws.recv())
                    if message.get("type") == "error":
                        raise ClientError(str(message.get("error")))
                    final = lines.take(message)
                    if final is not None:
                        break
            # The snapshot of a release that had ended before we subscribed sends its events first; a late event
            # of a live one is still printed.
            try:
                while True:
                    lines.take(json.loads(await asyncio.wait_for(ws.recv(), 0.3)))
            except TimeoutError:
                pass
            return final


class Lines:
    """Turns live messages of one release into progress lines (pure; see ``take``)."""

    def __init__(self, release_id: int, out: Callable[[str], None], pull_interval: float = 1.0) -> None:
        self.release_id, self.out, self.pull_interval = release_id, out, pull_interval
        self.percent = 0
        self.first_event = 0
        self.pull_printed: dict[tuple[str, str], float] = {}
        self.paused = False

    def take(self, message: dict[str, Any], now: float | None = None) -> dict[str, Any] | None:
        """Print what ``message`` says of this release; return the release when it has ended."""
        kind = message.get("type")
        if kind == "release" and message.get("id") == self.release_id:
            self.percent = int(message.get("percent") or 0)
            if bool(message.get("paused")) != self.paused and message.get("status") not in TERMINAL:
                self.paused = bool(message.get("paused"))
                if self.paused:
                    self.out(
                        f"[{self.percent:3d}%] paused: resume with `resume {self.release_id}`, "
                        f"or stop with `cancel {self.release_id}`"
                    )
            if message.get("status") in TERMINAL:
                self.out(f"[{self.percent:3d}%] {message['kind']} {message['status']}" + _error(message))
                return message
        elif kind == "event" and message.get("release") == self.release_id:
            self.out(f"[{self.percent:3d}%] {message['message']}")
        elif kind == "pull" and message.get("release") == self.release_id:
            if message["status"] == "pulling" and not message.get("layers_total"):
                return None  # Docker has not listed the layers yet: nothing to say
            key = (message["node"], message["image"])
            now = time.monotonic() if now is None else now
            if message["status"] == "pulling" and now - self.pull_printed.get(key, -1e9) < self.pull_interval:
                return None
            self.pull_printed[key] = now
            size = (
                f", {human_bytes(message['current'])} of {human_bytes(message['total'])}"
                if message.get("total")
                else ""
            )
            self.out(
                f"[{self.percent:3d}%] pull {message['image']} on {message['node']}: {message['status']} "
                f"{message['percent']}% ({message['layers_done']}/{message['layers_total']} layers{size})"
            )
        return None


def plan_lines(plan: dict[str, Any]) -> list[str]:
    """A deploy or update plan (the API's ``?dry_run=true`` answer) as lines for people."""

    def where(items: list[dict[str, Any]]) -> str:
        return ", ".join(f"{item['container']} @ {item['node']}" for item in items)

    lines = [f"plan for {plan['application']} (order: {' → '.join(plan.get('order') or [])})"]
    for service in plan.get("services") or []:
        parts = [f"{verb} {where(service[verb])}" for verb in ("create", "recreate", "remove") if service.get(verb)]
        if service.get("image_change"):
            parts.append(f"image {service['image_change']['from']} → {service['image_change']['to']}")
        lines.append(f"  {service['name']}: " + ("; ".join(parts) if parts else "unchanged"))
        rolling = service.get("rolling")
        if rolling:
            lines.append(
                f"    rolling {rolling['order']}, {rolling['parallelism']} at a time, "
                f"on failure {rolling['failure_action']} (at most {rolling['most_containers']} containers at once)"
                + (f"; {rolling['note']}" if rolling.get("note") else "")
            )
            for number, batch in enumerate(rolling["batches"], start=1):
                lines.append(f"      batch {number}: {', '.join(batch)}")
    for service in plan.get("removed_services") or []:
        lines.append(f"  {service['name']}: dropped; remove {where(service['remove'])}")
    for node, images in (plan.get("missing_images") or {}).items():
        lines.append(f"  {node} lacks {', '.join(images)} (pulled at deploy)")
    for conflict in plan.get("port_conflicts") or []:
        lines.append(f"  port {conflict['port']} of {conflict['service']} is taken by {conflict['used_by']}")
    for route in plan.get("routes") or []:
        lines.append(f"  {route['address']} → {route['service']}:{route['port']} (when the cluster's routing is on)")
    if plan.get("nothing_changes"):
        lines.append("  nothing changes: this is the current version, and applying it is refused")
    return lines


def _error(message: dict[str, Any]) -> str:
    return f": {message['error']}" if message.get("error") else ""


def _steps(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() for p in parts):
        raise SystemExit(f"--steps wants whole percentages separated by commas (10,25,50,100), not {text!r}")
    return [int(p) for p in parts]


def _variables(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--var wants KEY=VALUE, not {pair!r}")
        out[key] = value
    return out


def main(argv: list[str] | None = None, stdout: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m console.cli", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("BERTH_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--key", default=os.environ.get("BERTH_ACCESS_KEY", ""), help="<AccessKeyId>:<Secret>")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("deploy", "update", "redeploy"):
        sub = commands.add_parser(name)
        sub.add_argument("--cluster", type=int, required=True)
        sub.add_argument("--name", required=True)
        if name != "redeploy":
            sub.add_argument("-f", "--file", required=name == "deploy")
            sub.add_argument("--var", action="append", default=[], metavar="KEY=VALUE")
            sub.add_argument("--plan", action="store_true", help="print the plan and change nothing")
            sub.add_argument("--json", action="store_true", help="with --plan: the API's JSON as it is")
        if name == "update":
            sub.add_argument(
                "--strategy",
                choices=["rolling", "blue-green", "canary"],
                default="rolling",
                help="rolling (batch by batch), blue-green (beside the old version until confirmed), canary (in "
                "judged steps)",
            )
            sub.add_argument("--steps", help="a canary's steps, in percent: 10,25,50,100")
            sub.add_argument("--hold", type=int, help="seconds each canary step is held")
    follow = commands.add_parser("follow", help="print a release's progress until it ends")
    follow.add_argument("release", type=int)
    for name, what in (
        ("pause", "pause a rolling release before its next batch"),
        ("resume", "resume a paused rolling release (a failed batch is tried again)"),
        ("cancel", "stop a release at its next checkpoint (a rolling batch in progress is undone)"),
        ("weight", "send WEIGHT percent of a blue-green release's traffic to its new version"),
        ("confirm", "end a blue-green release: the new version takes all the traffic, the old one goes"),
        ("rollback", "end a blue-green or canary release: the new version goes, the old one takes the traffic back"),
    ):
        control = commands.add_parser(name, help=what)
        control.add_argument("release", type=int)
        if name == "weight":
            control.add_argument("weight", type=int)
        control.add_argument("--follow", action="store_true", help="then print its progress until it ends")
    args = parser.parse_args(argv)
    if not args.key:
        parser.error("give --key or set BERTH_ACCESS_KEY (<AccessKeyId>:<AccessKeySecret>)")

    def out(line: str) -> None:
        print(line, file=stdout, flush=True)

    client = Client(args.url, args.key)
    apps = f"/api/v1/clusters/{getattr(args, 'cluster', 0)}/applications"
    try:
        if args.command == "follow":
            release = client.call("GET", f"/api/v1/releases/{args.release}")
        elif args.command in ("pause", "resume", "cancel", "weight", "confirm", "rollback"):
            body = {"weight": args.weight} if args.command == "weight" else None
            release = client.call("POST", f"/api/v1/releases/{args.release}/{args.command}", body)
            state = "paused" if release.get("paused") else release["status"]
            shared = release.get("side_by_side") or {}
            share = f", {shared.get('weight', 0)}% to the new version" if shared else ""
            out(f"release {release['id']}: {release['kind']} of {release['application']} is {state}{share}")
            if not args.follow:
                return 0
        elif args.command == "redeploy":
            release = client.call("POST", f"{apps}/{args.name}/redeploy")
        else:
            body = {"variables": _variables(args.var)}
            if args.command == "update" and args.strategy != "rolling":
                body["strategy"] = args.strategy
            if args.command == "update" and (args.steps or args.hold):
                canary: dict[str, Any] = {}
                if args.steps:
                    canary["steps"] = _steps(args.steps)
                if args.hold:
                    canary["hold_seconds"] = args.hold
                body["canary"] = canary
            if args.file:
                with open(args.file, encoding="utf-8") as handle:
                    body["compose"] = handle.read()
            suffix = "?dry_run=true" if args.plan else ""
            if args.command == "deploy":
                release = client.call("POST", apps + suffix, {**body, "name": args.name})
            else:
                release = client.call("PATCH", f"{apps}/{args.name}{suffix}", body)
            if args.plan:
                for line in [json.dumps(release, indent=2)] if args.json else plan_lines(release):
                    out(line)
                return 0
        out(f"release {release['id']}: {release['kind']} of {release['application']}")
        final = release if release["status"] in TERMINAL else client.follow(release, out)
        if final is release:
            out(f"[{release['percent']:3d}%] {release['kind']} {release['status']}" + _error(release))
    except ClientError as exc:
        out(f"error {exc}")
        return 2
    return 0 if final["status"] == "successful" else 1


if __name__ == "__main__":
    sys.exit(main())
