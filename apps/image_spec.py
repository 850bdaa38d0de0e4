"""What a user gives to create an application from one image, and the rules it must meet (the page's form, the
API's body and the operation read the same ones)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from accounts.models import NAME_VALIDATOR
from apps.models import MAX_SCALE

# A Docker image reference: [registry[:port]/]path[:tag][@sha256:digest]
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"(?:localhost|{_LABEL}(?:\.{_LABEL})+|{_LABEL}(?=:[0-9]))(?::[0-9]+)?"
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_RE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_PATH}(?:/{_PATH})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?(?:@sha256:[a-f0-9]{{64}})?$"
)
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@dataclass
class ImageAppSpec:
    """What a user gives to deploy an application from one image."""

    name: str
    image: str
    command: str = ""
    scale: int = 1
    environment: dict[str, str] = field(default_factory=dict)
    container_port: int | None = None
    host_port: int | None = None
    description: str = ""


def validate_spec(spec: ImageAppSpec) -> tuple[list[str] | None, dict[str, str]]:
    """Check every field; raise ValidationError with one message per bad field. Returns (argv, env)."""
    errors: dict[str, list[str]] = {}

    def bad(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    try:
        NAME_VALIDATOR(spec.name)
    except ValidationError as exc:
        bad("name", exc.messages[0])
    if not spec.image or len(spec.image) > 255 or not IMAGE_RE.match(spec.image):
        bad("image", _("Not a valid image reference (for example nginx:1.25 or registry:5000/team/app:v2)."))
    argv: list[str] | None = None
    if spec.command.strip():
        try:
            argv = shlex.split(spec.command)
        except ValueError as exc:
            bad("command", _("Cannot parse the command: %(reason)s.") % {"reason": exc})
    if not isinstance(spec.scale, int) or not 1 <= spec.scale <= MAX_SCALE:
        bad("scale", _("Choose between 1 and %(max)s containers.") % {"max": MAX_SCALE})
    for key, value in spec.environment.items():
        if not ENV_KEY_RE.match(key) or len(key) > 255:
            bad("environment", _("%(key)s is not a valid variable name.") % {"key": key[:50]})
        if "\x00" in str(value):
            bad("environment", _("The value of %(key)s contains a NUL character.") % {"key": key[:50]})
    for field_name, port in (("container_port", spec.container_port), ("host_port", spec.host_port)):
        if port is not None and not 1 <= port <= 65535:
            bad(field_name, _("A port is a number from 1 to 65535."))
    if spec.host_port is not None and spec.container_port is None:
        bad("host_port", _("Give the container port that the host port publishes."))
    if errors:
        raise ValidationError(errors)
    return argv, {k: str(v) for k, v in spec.environment.items()}
