"""Reading and writing record files.

Readers accept JSON Lines, JSON arrays, CSV, Parquet, a `datasets` directory saved with
`save_to_disk`, or a Hub id (through `datasets.load_dataset`). Every problem is reported
with the file, the line (or row) and the field.

Writers either replace a file atomically (write a temp file, then rename) or append
one flushed line at a time, so a process killed with `kill -9` leaves at most one torn
last line, which the appender detects and drops before it writes again.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from instructscale.errors import InputError

T = TypeVar("T", bound=BaseModel)

JSONL_SUFFIXES = {".jsonl", ".ndjson"}


def iter_rows(path: str | Path, *, split: str = "train") -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line or row number, raw dict) from any supported source. Numbers start at 1."""
    p = Path(path)
    if not p.exists():
        if _looks_like_hub_id(str(path)):
            yield from _iter_hf(str(path), split=split, from_hub=True)
            return
        raise InputError("file not found", path=path)
    if p.is_dir():
        if not _is_saved_dataset(p):
            raise InputError("is a folder, not a data file or a dataset saved with save_to_disk", path=p)
        yield from _iter_hf(str(p), split=split, from_hub=False)
        return
    if p.stat().st_size == 0:
        raise InputError("file is empty", path=p)
    suffix = p.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        yield from _iter_jsonl(p)
    elif suffix == ".json":
        yield from _iter_json_array(p)
    elif suffix == ".csv":
        yield from _iter_csv(p)
    elif suffix == ".parquet":
        yield from _iter_parquet(p)
    else:
        raise InputError(f"unsupported file type '{suffix}' (use .jsonl, .json, .csv or .parquet)", path=p)


def read_records(path: str | Path, cls: type[T], *, adapt=None, allow_empty: bool = False) -> list[T]:
    """Read and validate every row as `cls`. `adapt(row) -> row` maps a foreign schema first."""
    out = []
    for line, row in iter_rows(path):
        if adapt is not None:
            row = adapt(row, path=path, line=line)
        out.append(validate_row(cls, row, path=path, line=line))
    if not out and not allow_empty:
        raise InputError("no records found", path=path)
    return out


def validate_row(cls: type[T], row: dict[str, Any], *, path=None, line=None) -> T:
    try:
        return cls.model_validate(row)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or None
        msg = "missing required field" if err["type"] == "missing" else err["msg"]
        if not isinstance(row, dict):
            msg = f"expected a JSON object of a {cls.__name__} record"
        raise InputError(msg, path=path, line=line, field=field) from None


FILE_SUFFIXES = {".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet", ".yaml", ".yml", ".txt", ".gguf",
                 ".safetensors", ".bin", ".pt"}


def looks_local(source: str) -> bool:
    """Whether a path that does not exist was meant as a local one (a typo), not a Hub id:
    it starts with ./ ../ / ~, has more than one '/', ends in a file extension, or its
    first part is a folder here (`data/evalx`, `models/nope`)."""
    parts = source.split("/")
    return (source.startswith((".", "/", "~")) or len(parts) > 2 or Path(source).suffix.lower() in FILE_SUFFIXES
            or (len(parts) == 2 and Path(parts[0]).is_dir()))


def _looks_like_hub_id(s: str) -> bool:
    """A dataset id: `owner/name`, and not a mistyped local path."""
    parts = s.split("/")
    return len(parts) == 2 and all(parts) and not looks_local(s)


def _is_saved_dataset(p: Path) -> bool:
    return any((p / name).exists() for name in ("dataset_info.json", "state.json", "dataset_dict.json"))


def decode_utf8(data: bytes, path: str | Path, *, first_line: int = 1) -> str:
    """`data` as text; bytes that are not UTF-8 are an InputError naming the line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + data.count(b"\n", 0, exc.start)
        raise InputError("not valid UTF-8", path=path, line=line) from None


def read_text(path: str | Path) -> str:
    """A whole user file as text (a BOM is dropped); a missing file, a folder or bytes that
    are not UTF-8 are one-line InputErrors."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", path=p) from None
    except IsADirectoryError:
        raise InputError("is a folder, expected a file", path=p) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=p) from None
    return decode_utf8(data, p).removeprefix("\ufeff")


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int, first: int):
        super().__init__(key)
        self.key, self.line, self.first = key, line, first


@lru_cache(maxsize=1)
def _unique_key_loader():
    """A safe loader (libyaml's parser when built in: much faster, and it bounds nesting
    depth itself) that refuses a key set twice in one mapping: YAML would keep the last
    value silently, so a typo'd copy of a block would win without a word."""
    import yaml

    class UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        def construct_mapping(self, node, deep=False):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden by design
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    if key in seen:
                        raise _DuplicateKey(str(key), line, seen[key])
                except TypeError:  # an unhashable key: the base constructor names it
                    continue
                seen[key] = line
            return super().construct_mapping(node, deep)

    return UniqueKeyLoader


def read_yaml(path: str | Path) -> Any:
    """A YAML file's content; a syntax error or a key set twice in one mapping names the
    file and its line (not `<unicode string>`)."""
    import yaml

    text = read_text(path)
    try:
        return yaml.load(text, Loader=_unique_key_loader())
    except _DuplicateKey as exc:
        raise InputError(f"duplicate key (first set on line {exc.first}); YAML would keep only the last value",
                         path=path, line=exc.line, field=exc.key) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"not valid YAML: {what}", path=path, line=mark.line + 1 if mark else None) from None
    except RecursionError:
        raise InputError("not valid YAML: nested too deeply", path=path) from None
    except ValueError as exc:  # a value its constructor rejects (a too long integer, a bad date)
        raise InputError(f"not valid YAML: {str(exc).split(';')[0]}", path=path) from None


def parse_json(text: str, path: str | Path, line: int | None = None) -> Any:
    """`json.loads`, with every way it can fail (syntax, nesting too deep for the parser, an
    integer too long to convert) as a one-line InputError naming the file and line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = line if line is not None else exc.lineno
        raise InputError(f"broken JSON: {exc.msg} (column {exc.colno})", path=path, line=where) from None
    except RecursionError:
        raise InputError("broken JSON: nested too deeply", path=path, line=line) from None
    except ValueError as exc:  # e.g. an integer over the interpreter's 4300-digit limit
        raise InputError(f"broken JSON: {str(exc).split(';')[0]}", path=path, line=line) from None


def _utf8_lines(f, p: Path) -> Iterator[str]:
    """Decoded lines of a file opened in binary mode; the first line's BOM is dropped."""
    for n, raw in enumerate(f, start=1):
        line = decode_utf8(raw, p, first_line=n)
        yield line.removeprefix("\ufeff") if n == 1 else line


def _iter_jsonl(p: Path) -> Iterator[tuple[int, dict]]:
    with p.open("rb") as f:
        for n, line in enumerate(_utf8_lines(f, p), start=1):
            if not line.strip():
                continue
            obj = parse_json(line.rstrip("\r\n"), p, n)  # so an unfinished line reports its end, not column 1
            if not isinstance(obj, dict):
                raise InputError(f"expected a JSON object, got {type(obj).__name__}", path=p, line=n)
            yield n, obj


def _iter_json_array(p: Path) -> Iterator[tuple[int, dict]]:
    data = parse_json(read_text(p), p)
    if isinstance(data, dict):  # {"data": [...]} or {"rows": [...]}
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise InputError("expected a JSON array of objects", path=p)
        data = lists[0]
    if not isinstance(data, list):
        raise InputError("expected a JSON array of objects", path=p)
    for n, obj in enumerate(data, start=1):
        if not isinstance(obj, dict):
            raise InputError(f"array item {n} is not an object", path=p, line=n)
        yield n, obj


def _iter_csv(p: Path) -> Iterator[tuple[int, dict]]:
    with p.open("rb") as f:
        reader = csv.DictReader(_utf8_lines(f, p))
        try:
            if not reader.fieldnames:
                raise InputError("CSV has no header row", path=p, line=1)
            for row in reader:
                if None in row:
                    raise InputError("row has more cells than the header", path=p, line=reader.line_num)
                # CSV has no types: strings stay strings, an empty cell means the field is absent
                yield reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}
        except csv.Error as exc:
            raise InputError(f"broken CSV: {exc}", path=p, line=reader.line_num) from None


def _iter_parquet(p: Path) -> Iterator[tuple[int, dict]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(p)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise InputError(f"cannot read Parquet: {exc}", path=p) from None
    for n, row in enumerate(table.to_pylist(), start=1):
        yield n, row


def _iter_hf(source: str, *, split: str, from_hub: bool) -> Iterator[tuple[int, dict]]:
    import datasets

    try:
        if not from_hub:
            ds = datasets.load_from_disk(source)
        else:
            ds = datasets.load_dataset(source, split=split)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if from_hub:
            raise InputError(f"no such local file, and no Hub dataset of that name could be loaded ({reason})",
                             path=source) from None
        raise InputError(f"cannot load dataset: {reason}", path=source) from None
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise InputError(f"split '{split}' not found (have: {', '.join(ds)})", path=source)
        ds = ds[split]
    for n, row in enumerate(ds, start=1):
        yield n, dict(row)


# ----------------------------------------------------------------------------- writing

def dumps(record: BaseModel | dict) -> str:
    obj = record.model_dump(mode="json") if isinstance(record, BaseModel) else record
    return json.dumps(obj, ensure_ascii=False)


def write_jsonl(path: str | Path, records: Iterable[BaseModel | dict]) -> int:
    """Atomically replace `path` with the records, one per line. Returns the count."""
    n = 0

    def body(f):
        nonlocal n
        for r in records:
            f.write(dumps(r) + "\n")
            n += 1

    atomic_write(path, body)
    return n


def write_json(path: str | Path, obj: Any) -> None:
    """Atomically write one JSON document (manifests, summaries)."""
    atomic_write(path, lambda f: f.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n"))


def write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text))


def _umask() -> int:
    """The process umask, read without changing it where Linux shows it (os.umask can only
    be read by setting it, which races with other threads creating files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def atomic_write(path: str | Path, body) -> None:
    """Write through a temporary file then rename, so a crash never leaves half a file. The
    file gets the mode a plain open() would give (0666 less the umask): mkstemp's 0600 made
    reports unreadable through a group folder or a web server."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            body(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prepare_output(path: str | Path) -> Path:
    """Check, before any work, that `path` can be written as a file, and create its folder:
    a path that is a folder, a parent that is a file, or a folder or file that cannot be
    written is an InputError now rather than a traceback after hours of work."""
    p = Path(path)
    if p.is_dir():
        raise InputError("is a folder, expected a file", path=p)
    existing = next(a for a in p.parents if a.exists())
    if not existing.is_dir():
        raise InputError(f"'{existing}' is a file, so it cannot hold '{p.name}'", path=p)
    p.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(p.parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise InputError("not writable (permission denied)", path=p if p.exists() else p.parent)
    return p


def read_jsonl_resumable(path: str | Path, *, numbered: bool = False) -> tuple[list, int]:
    """Read an append-only output file. Returns (rows, torn) where torn is 1 if a
    partially written last line (from a crash, possibly cut inside a multi-byte character)
    was found and ignored. A broken line anywhere else is real corruption and an error.
    With `numbered`, rows are (line number, row) pairs."""
    p = Path(path)
    if not p.exists():
        return [], 0
    try:
        data = p.read_bytes()
    except IsADirectoryError:
        raise InputError("is a folder, expected a JSON Lines file", path=p) from None
    lines = data.split(b"\n")
    tail = lines.pop()  # bytes after the last newline: empty unless the last write was torn
    rows = []
    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        rows.append((n, parse_json(decode_utf8(raw, p, first_line=n), p, n)))
    torn = 0
    if tail.strip():
        try:
            rows.append((len(lines) + 1, json.loads(tail.decode("utf-8"))))  # only its newline was lost
        except (ValueError, RecursionError):  # JSON, UTF-8 or integer-size errors: a torn write
            torn = 1
    return (rows if numbered else [row for _, row in rows]), torn


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks (manifests record inputs by it)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def final_records(path: str | Path, cls: type[T], key, is_final, *, rewrite: bool = True) -> tuple[list[T], int]:
    """The records of an append-only results file that a rerun may skip: one per `key(record)`,
    those `is_final(record)` (failures are redone). With `rewrite`, the file is rewritten
    atomically when it held failures, duplicates or a torn last line, so reruns converge to
    exactly one record per key. Returns (kept records, torn lines dropped)."""
    rows, torn = read_jsonl_resumable(path, numbered=True)
    chosen, _ = one_per_key([validate_row(cls, row, path=path, line=n) for n, row in rows], key, is_final)
    keep = [r for r in chosen if is_final(r)]
    if rewrite and (torn or len(keep) != len(rows)):
        write_jsonl(path, keep)
    return keep, torn


def one_per_key(records: Iterable[T], key, is_final) -> tuple[list[T], list[tuple[T, T]]]:
    """One record per `key(record)`: the first final one, else the first (a failed try
    is replaced by a later final record of its key). Returns (chosen records in first-seen
    order, (dropped record, the record chosen for its key) pairs)."""
    chosen: dict[Any, T] = {}
    dropped: list[tuple[T, T]] = []
    for record in records:
        k = key(record)
        first = chosen.get(k)
        if first is None:
            chosen[k] = record
        elif not is_final(first) and is_final(record):
            chosen[k] = record
            dropped.append((first, record))
        else:
            dropped.append((record, first))
    return list(chosen.values()), dropped


class JsonlAppender:
    """Append records to a JSON Lines file, one flushed line per record.

    On open, a torn last line left by a crash is cut off (and counted in `.torn`), so
    the file is valid JSON Lines again before anything new is written.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.torn = _repair_tail(self.path)
        self._f = self.path.open("a", encoding="utf-8")

    def write(self, record: BaseModel | dict) -> None:
        self._f.write(dumps(record) + "\n")
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _repair_tail(p: Path) -> int:
    if not p.exists() or p.stat().st_size == 0:
        return 0
    with p.open("rb+") as f:
        data = f.read()
        if data.endswith(b"\n"):
            return 0
        cut = data.rfind(b"\n") + 1
        tail = data[cut:]
        try:
            json.loads(tail.decode("utf-8"))
            f.write(b"\n")  # a whole record that only lost its newline: keep it
            return 0
        except (ValueError, RecursionError):  # JSON, UTF-8 or integer-size errors: a torn write
            f.truncate(cut)
            return 1
