"""Scalar conversions with Compose's exact textual results: numbers as strings, durations, byte sizes, booleans."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction

NANOSECONDS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # noqa: RUF001 - micro sign, as Go accepts it
    "μs": 1_000,  # noqa: RUF001 - Greek mu, as Go accepts it
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "w": 604_800_000_000_000,
}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h|d|w)")  # noqa: RUF001
_BYTES = re.compile(r"^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$", re.IGNORECASE)
_BYTE_UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
TRUE_WORDS = frozenset({"y", "yes", "true", "on"})
FALSE_WORDS = frozenset({"n", "no", "false", "off"})


def go_float_text(value: float) -> str:
    """A float as Go's ``fmt.Sprint`` writes it (``1000``, ``0.5``, ``1e+20``, ``1.5e-07``, ``+Inf``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(str(d) for d in digits)
    decimal_exponent = len(text) + int(exponent) - 1
    prefix = "-" if sign else ""
    if decimal_exponent < -4 or decimal_exponent >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        sign_char = "-" if decimal_exponent < 0 else "+"
        return f"{prefix}{mantissa}e{sign_char}{abs(decimal_exponent):02d}"
    point = decimal_exponent + 1
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text}"
    if point >= len(text):
        return f"{prefix}{text}{'0' * (point - len(text))}"
    return f"{prefix}{text[:point]}.{text[point:]}"


def scalar_text(value: object) -> str:
    """A YAML scalar as the string Compose makes of it (environment values, labels, options)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float_text(value)
    return str(value)


def parse_duration(text: str) -> int | None:
    """Nanoseconds of a Compose duration (``1m30s``, ``1.5h``, ``2d``, ``0``), or None if it is not one."""
    body = text.strip()
    negative = body.startswith("-")
    body = body.lstrip("+-") if body[:1] in "+-" else body
    if body == "0":
        return 0
    if not body:
        return None
    total = Fraction(0)
    position = 0
    while position < len(body):
        match = _DURATION_PART.match(body, position)
        if not match or match.group(1) in ("", "."):
            return None
        total += Fraction(match.group(1)) * NANOSECONDS[match.group(2)]
        position = match.end()
    nanoseconds = int(total)
    return -nanoseconds if negative else nanoseconds


def _trimmed_fraction(whole: int, remainder: int, digits: int) -> str:
    """``whole`` followed by ``remainder`` as a decimal fraction of ``digits`` digits, trailing zeros dropped."""
    if remainder == 0:
        return str(whole)
    fraction = str(remainder).rjust(digits, "0").rstrip("0")
    return f"{whole}.{fraction}"


def duration_text(nanoseconds: int) -> str:
    """A duration as Go's ``time.Duration.String()`` writes it: ``1m30s``, ``500ms``, ``1h0m0s``, ``0s``."""
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    value = abs(nanoseconds)
    if value < 1_000:
        return f"{sign}{value}ns"
    if value < 1_000_000:
        return f"{sign}{_trimmed_fraction(value // 1_000, value % 1_000, 3)}µs"
    if value < 1_000_000_000:
        return f"{sign}{_trimmed_fraction(value // 1_000_000, value % 1_000_000, 6)}ms"
    hours, rest = divmod(value, NANOSECONDS["h"])
    minutes, rest = divmod(rest, NANOSECONDS["m"])
    seconds = _trimmed_fraction(rest // 1_000_000_000, rest % 1_000_000_000, 9)
    text = f"{seconds}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def parse_bytes(value: object) -> int | None:
    """Bytes of a size (``512m``, ``1g``, ``50M``, ``1.5GB``, or a plain integer), or None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if not isinstance(value, str):
        return None
    match = _BYTES.match(value.strip())
    if not match:
        return None
    multiplier = _BYTE_UNITS.get((match.group(2) or "").lower(), 1)
    return int(float(match.group(1)) * multiplier)


def parse_bool(value: object) -> bool | None:
    """A boolean from YAML or from an interpolated string (``true``, ``yes``, ``on``...), or None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.lower()
        if lowered in TRUE_WORDS:
            return True
        if lowered in FALSE_WORDS:
            return False
    return None


def parse_int(value: object) -> int | None:
    """An integer from YAML or from an interpolated string (``"3"``), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[-+]?[0-9]+", value.strip()):
        return int(value.strip())
    return None


def parse_float(value: object) -> float | None:
    """A finite number from YAML or from an interpolated string (``"0.5"``), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def json_number(value: float) -> int | float:
    """A float as JSON prints it in Go: integral values without ``.0`` (cpus 2 prints ``2``)."""
    return int(value) if value.is_integer() else value
