"""Secret values never leave in a message: one masker for everything made from an interpolated model.

A Compose text is interpolated with variables (a config set's, then the given ones) before it is checked,
so an error, a plan, a release event or an operation-log entry made from the model can carry a secret
value (``image: "local/${DB_PASSWORD}:1"`` makes ``"local/<the value>:1" is not a valid image reference``).
Every such text passes through a :class:`Masker`, which replaces each secret value with ``****`` (and
credentials written in URLs, see ``console.audit.mask_credentials``). Pure: no ORM, no Docker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from console.audit import SECRET_KEY_PATTERN, mask_credentials

MASK = "****"


def secret_named(values: Mapping[str, Any]) -> list[str]:
    """The values of variables whose names say they are secret (``DB_PASSWORD``, ``API_TOKEN``…)."""
    return [str(value) for key, value in values.items() if SECRET_KEY_PATTERN.search(str(key)) and value]


@dataclass(frozen=True)
class Masker:
    """Replaces every secret value (longest first, so a secret inside another is not half shown) with ``****``."""

    secrets: tuple[str, ...] = ()

    @classmethod
    def of(cls, *groups: Iterable[str]) -> Masker:
        """A masker of the non-empty values of every group."""
        found = {str(value) for group in groups for value in group if value}
        return cls(tuple(sorted(found, key=lambda value: (-len(value), value))))

    def text(self, value: str) -> str:
        """``value`` with every secret and every credential in a URL masked."""
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return mask_credentials(value)

    def data(self, value: Any) -> Any:
        """Strings masked at any depth of lists and mappings (keys included); other values as they are."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.data(key): self.data(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value

    def error(self, exc: ValidationError) -> ValidationError:
        """The same validation error with its messages masked (field names kept)."""
        if hasattr(exc, "error_dict"):
            return ValidationError(
                {field: [self.text(m) for m in messages] for field, messages in exc.message_dict.items()}
            )
        return ValidationError([self.text(m) for m in exc.messages])
