"""What an avatar's bytes are, by their signature ("magic bytes"), not by what the uploader said.

A Content-Type header is the client's word; a file that starts with `<html>` is no PNG whatever it is
labelled. Each allowed type has a fixed signature in its first bytes (PNG: the 8-byte signature; JPEG:
FF D8 FF; GIF: GIF87a/GIF89a; WebP: a RIFF container of form WEBP), so the first 16 bytes decide.
"""

from __future__ import annotations

HEAD_BYTES = 16  # enough for every signature below


def sniff(head: bytes) -> str | None:
    """The image type `head` (a file's first bytes) is, or None for anything else."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def matches(declared: str, head: bytes) -> bool:
    """Whether a file that starts with `head` is what `declared` says it is."""
    return sniff(head) == declared
