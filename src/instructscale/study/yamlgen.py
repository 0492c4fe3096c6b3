"""Write a pydantic config as YAML with each field's description as a comment, so
`study init` produces a file that documents itself and always matches the models."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel


def commented_yaml(model: BaseModel, indent: int = 0) -> str:
    lines: list[str] = []
    pad = " " * indent
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        if info.description:
            lines.append(f"{pad}# {info.description}")
        if isinstance(value, BaseModel):
            lines.append(f"{pad}{name}:")
            lines.append(commented_yaml(value, indent + 2))
        elif isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
            lines.append(f"{pad}{name}:")
            for item in value:
                body = commented_yaml(item, indent + 4).splitlines()
                first = next(i for i, line in enumerate(body) if not line.lstrip().startswith("#"))
                body[first] = f"{pad}  - {body[first].lstrip()}"
                lines.extend(body)
        elif isinstance(value, dict) and value:
            lines.append(f"{pad}{name}:")
            plain = {k: v.model_dump(mode="json", exclude_unset=True) if isinstance(v, BaseModel) else v
                     for k, v in value.items()}
            block = yaml.safe_dump(plain, allow_unicode=True, default_flow_style=False, sort_keys=False, width=1000)
            lines.extend(f"{pad}  {line}" for line in block.rstrip().splitlines())
        else:
            lines.append(f"{pad}{_scalar(name, value)}")
    return "\n".join(lines)


def _scalar(name: str, value: Any) -> str:
    dumped = yaml.safe_dump({name: value}, allow_unicode=True, default_flow_style=True, sort_keys=False,
                            width=1000).strip()
    return dumped[1:-1] if dumped.startswith("{") else dumped
