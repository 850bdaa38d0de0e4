"""Following an image pull: Docker's progress stream folded into per-layer state and one percentage.

Pure logic over the JSON messages of ``POST /images/create`` (the docker SDK's ``api.pull(stream=True,
decode=True)``). A layer goes Pulling fs layer → Waiting → Downloading (bytes) → Verifying Checksum
→ Download complete → Extracting (bytes) → Pull complete, or straight to Already exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# How far along a layer is, by the last status Docker reported (Downloading and Extracting interpolate).
_DOWNLOAD_SHARE = 0.8
_DONE = {"pull complete", "already exists"}
_DOWNLOADED = {"verifying checksum", "download complete"}


class PullFailed(Exception):
    """Docker reported an error in the middle of the stream."""


@dataclass
class Layer:
    """One layer of a pull."""

    id: str
    status: str = "waiting"
    current: int = 0  # bytes of the current phase (download or extraction)
    total: int = 0
    size: int = 0  # bytes to download, once Docker has said

    @property
    def done(self) -> bool:
        return self.status.lower() in _DONE

    @property
    def fraction(self) -> float:
        status = self.status.lower()
        if status in _DONE:
            return 1.0
        if status in _DOWNLOADED:
            return _DOWNLOAD_SHARE
        share = (self.current / self.total) if self.total else 0.0
        if status == "downloading":
            return _DOWNLOAD_SHARE * min(share, 1.0)
        if status == "extracting":
            return _DOWNLOAD_SHARE + (1 - _DOWNLOAD_SHARE) * min(share, 1.0)
        return 0.0

    def as_live(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "current": self.current, "total": self.total}


@dataclass
class PullProgress:
    """Everything known about one pull so far."""

    image: str
    layers: dict[str, Layer] = field(default_factory=dict)
    digest: str = ""
    finished: bool = False
    changed: bool = False  # whether the image is new ("Downloaded newer image"), not "Image is up to date"

    def feed(self, message: dict[str, Any]) -> bool:
        """Take one message of the stream; return whether a layer finished or the pull ended with it."""
        if message.get("error"):
            raise PullFailed(str(message.get("error")))
        status = str(message.get("status") or "")
        layer_id = message.get("id")
        if status.startswith("Digest: "):
            self.digest = status.removeprefix("Digest: ").strip()
            return False
        if status.startswith("Status: "):
            self.finished = True
            self.changed = "newer image" in status.lower()
            return True
        if not layer_id or status.startswith("Pulling from"):
            return False
        layer = self.layers.setdefault(str(layer_id), Layer(id=str(layer_id)))
        was_done = layer.done
        layer.status = status
        detail = message.get("progressDetail") or {}
        if "current" in detail:
            layer.current = int(detail.get("current") or 0)
            layer.total = int(detail.get("total") or 0)
            if status == "Downloading":
                layer.size = layer.total
        return layer.done and not was_done

    @property
    def layers_done(self) -> int:
        return sum(1 for layer in self.layers.values() if layer.done)

    @property
    def layers_fetched(self) -> int:
        """Layers that came over the network (not already on the node)."""
        return sum(1 for layer in self.layers.values() if layer.size)

    @property
    def downloaded(self) -> tuple[int, int]:
        """Bytes downloaded and bytes to download, over the layers whose size is known."""
        current = total = 0
        for layer in self.layers.values():
            if not layer.size:
                continue
            downloading = layer.status.lower() == "downloading"
            current, total = current + (layer.current if downloading else layer.size), total + layer.size
        return current, total

    @property
    def percent(self) -> int:
        if self.finished:
            return 100
        if not self.layers:
            return 0
        share = sum(layer.fraction for layer in self.layers.values()) / len(self.layers)
        return min(99, int(share * 100))

    def as_live(self) -> dict[str, Any]:
        current, total = self.downloaded
        return {
            "image": self.image,
            "percent": self.percent,
            "layers_done": self.layers_done,
            "layers_total": len(self.layers),
            "current": current,
            "total": total,
            "layers": [layer.as_live() for layer in self.layers.values()],
        }


def human_bytes(n: int) -> str:
    """``1.5 MB`` style, decimal units like Docker's own output."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"
