"""What a scan did: counts and the files worth naming (a plain dataclass, no database)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ScanReport"]


@dataclass
class ScanReport:
    """What a scan did. ``added + updated + reprobed + rehashed + unchanged + moved`` is the
    number of artifacts found; ``errors`` lists the files among them that could not be read this time.

    Attributes:
        reprobed: unchanged files probed again because an older loradex described them
            (their hashes are kept).
        rehashed: unchanged files read again for the hashes an older catalog did not keep
            (BLAKE3, CRC-32).
        missing: rows under the roots whose file is gone (newly or from an earlier scan).
        refused: pickles among ``errors`` refused because loading them needs code execution
            (their rows say safety ``pickle-refused``).
        duplicates: paths of ok rows sharing a sha256, for groups touching the roots.
        same_weights: (existing path, new path) pairs with equal tensor hashes but different
            files (metadata edited in a copy).
        hash_mismatches: (path, remark) for files whose header claims a tensor hash
            (``sshs_model_hash``, ``modelspec.hash_sha256``) their data does not have.
        notes: (path, remark) for moves and metadata-only changes.
        sidecars_read: unchanged files whose sidecars were added or changed, read again (counted
            among ``unchanged`` too).
    """

    roots: list[str] = field(default_factory=list)
    added: int = 0
    updated: int = 0
    reprobed: int = 0
    rehashed: int = 0
    unchanged: int = 0
    moved: int = 0
    missing: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    refused: int = 0
    duplicates: list[list[str]] = field(default_factory=list)
    same_weights: list[tuple[str, str]] = field(default_factory=list)
    hash_mismatches: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    sidecars_read: int = 0
    elapsed: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    def _merge(self, other: ScanReport) -> None:
        self.added, self.updated, self.moved = (
            self.added + other.added,
            self.updated + other.updated,
            self.moved + other.moved,
        )
        self.reprobed += other.reprobed
        self.rehashed += other.rehashed
        self.refused += other.refused
        self.errors += other.errors
        self.same_weights += other.same_weights
        self.hash_mismatches += other.hash_mismatches
        self.notes += other.notes
