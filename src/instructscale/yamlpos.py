"""Where a key of a YAML file is: the line of `a.b.0.c`, so a config error can name it."""

from __future__ import annotations

from pathlib import Path

import yaml


def yaml_line(path: str | Path, loc: tuple) -> int | None:
    """1-based line of the node at `loc` (mapping keys and list indexes); None when it is not
    in the file (a missing key) or the file cannot be read as YAML."""
    try:
        node = yaml.compose(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if found is None:
                return None
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return None
    return line
