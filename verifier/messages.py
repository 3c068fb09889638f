"""Bilingual (中文 / English) reasons with stable codes, shared by checks and field rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Language", "Reason"]

Language = Literal["zh", "en"]


@dataclass(frozen=True, slots=True)
class Reason:
    """A stable machine code and the human text in 中文 and English."""

    code: str
    zh: str
    en: str

    def text(self, language: Language = "zh") -> str:
        """Return the text in the chosen language."""
        return self.zh if language == "zh" else self.en

    def as_dict(self) -> dict[str, str]:
        """Return the reason as a JSON-ready mapping."""
        return {"code": self.code, "zh": self.zh, "en": self.en}
