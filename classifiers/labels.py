"""The label set, as defined by the project's label guideline (LABELS.md)."""

from __future__ import annotations

from typing import Final

LABELS: Final[tuple[str, ...]] = (
    "tech_influence",
    "property_purchase",
    "infrastructure_dependency",
)
