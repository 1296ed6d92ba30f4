"""Print the settings table of docs/configuration.md from the pydantic model.

Run it with the project's interpreter and paste the output over the table:
``.venv/bin/python docs/settings_table.py``.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from loopwright.settings import Settings

_BOUNDS = (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤"))


def _markdown(text: str) -> str:
    # URLs and <workspace>/... paths would be mangled by Markdown (angle brackets read as HTML).
    text = re.sub(r"(\S+://\S*[^\s.,]|<workspace>/\S*[^\s.,])", r"`\1`", text)
    return re.sub(r"\b(kill -9|log_metric)\b", r"`\1`", text)


def _default(field: FieldInfo) -> str:
    return "*none*" if field.default is None else f"`{field.default}`"


def _allowed(field: FieldInfo) -> str:
    parts = []
    for item in field.metadata:
        for name, symbol in _BOUNDS:
            value = getattr(item, name, None)
            if value is not None:
                parts.append(f"{symbol} {value:,}" if isinstance(value, int) else f"{symbol} {value}")
    return ", ".join(parts)


def _type(annotation: Any) -> str:
    simple = None if hasattr(annotation, "__args__") else getattr(annotation, "__name__", None)
    text = simple or str(annotation).replace("pathlib._local.", "").replace("pathlib.", "")
    text = text.replace("typing.", "")
    return "`" + text.replace(" | ", " \\| ") + "`"


def _rows(model: type[BaseModel], env_prefix: str, path: str) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows += _rows(annotation, f"{env_prefix}{name.upper()}__", f"{path}{name}.")
            continue
        rows.append(
            (
                f"`{path}{name}`",
                f"`{env_prefix}{name.upper()}`",
                _type(annotation),
                _default(field),
                _allowed(field),
                _markdown(field.description or ""),
            )
        )
    return rows


def main() -> None:
    print("| setting | environment variable | type | default | allowed | description |")
    print("|---|---|---|---|---|---|")
    for row in _rows(Settings, "LOOPWRIGHT_", ""):
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
