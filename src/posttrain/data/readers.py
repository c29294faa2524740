"""Read raw rows from data files: JSONL, JSON, CSV, Parquet, saved and hub Hugging Face datasets.

``read_rows(path)`` yields ``(row_number, row)`` pairs with row numbers counting from 1, so
errors can point at the exact spot: for JSONL it is the line number in the file (blank lines
are skipped but still counted as lines), otherwise the row's position. The reader is chosen
by extension (``.jsonl``, ``.json``, ``.csv``/``.tsv``, ``.parquet``); a CSV file's header row
names the fields and every cell stays a string; a directory written by
``datasets.Dataset.save_to_disk`` is read too, with ``dir::split`` choosing a split of a
saved ``DatasetDict`` (``train`` is taken when no split is given). ``bundled:NAME`` reads a
data set shipped with the package. ``"a.jsonl + bundled:b"`` reads several files one after another
as one data set (a mix; each row's number is its number in its own file). A path that is not
there and reads as a hub dataset id (``org/name``, ``org/name:split``, ``org/name@revision``,
``train`` by default) goes to ``datasets.load_dataset`` (the hub, or its local cache offline);
a path that looks local (``./``, ``/``, a data file extension, an existing first folder) never does.

``read_rows_with_errors`` is the lenient variant used by ``load_examples(skip_bad_rows=True)``:
a bad row is yielded as a :class:`DataError` in place of the row, so reading can go on.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterator
from typing import Any

from posttrain.errors import DataError, UserError

SUPPORTED = ".jsonl, .json, .csv, .tsv, .parquet, a saved Hugging Face dataset directory or a hub dataset id"
DATA_EXTENSIONS = (".jsonl", ".json", ".csv", ".tsv", ".parquet", ".arrow", ".txt")
HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")
# Files that datasets' save_to_disk writes: a single Dataset or a DatasetDict.
HF_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


def read_rows(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(row_number, row)`` for every row of ``path``; raise :class:`DataError` on a bad row."""
    for number, row in read_rows_with_errors(path):
        if isinstance(row, DataError):
            raise row
        yield number, row


BUNDLED_PREFIX = "bundled:"
MIX_SEPARATOR = " + "  # "bundled:capability_sft + bundled:judgement_sft": one data set from several files


def mix_parts(path: str) -> list[str]:
    """The files of a mix (``"a.jsonl + b.jsonl"``), or ``[path]``; an empty part is a one-line error."""
    if MIX_SEPARATOR not in path:
        return [path]
    parts = [part.strip() for part in path.split(MIX_SEPARATOR)]
    if not all(parts):
        raise UserError(f"data mix {path!r} has an empty part (write 'a.jsonl + b.jsonl')")
    return parts


def resolve_data_path(path: str) -> str:
    """``bundled:NAME`` names a data set shipped inside the package (``bundled:sft_chat``); a mix is
    returned with each of its parts resolved."""
    if MIX_SEPARATOR in path:
        return MIX_SEPARATOR.join(resolve_data_path(part) for part in mix_parts(path))
    if not path.startswith(BUNDLED_PREFIX):
        return path
    name = path[len(BUNDLED_PREFIX):]
    folder = os.path.join(os.path.dirname(__file__), "bundled")
    candidate = os.path.join(folder, name if name.endswith(".jsonl") else name + ".jsonl")
    if not os.path.exists(candidate):
        shipped = sorted(f[: -len(".jsonl")] for f in os.listdir(folder) if f.endswith(".jsonl"))
        raise UserError(f"no bundled data set '{name}' (shipped: {', '.join(shipped) or 'none'})")
    return candidate


def read_rows_with_errors(path: str) -> Iterator[tuple[int, dict[str, Any] | DataError]]:
    """Like :func:`read_rows`, but a row that cannot be read is yielded as its :class:`DataError`."""
    path = resolve_data_path(path)
    if MIX_SEPARATOR in path:
        readers = [read_rows_with_errors(part) for part in mix_parts(path)]  # a missing file fails here, at once
        return (item for reader in readers for item in reader)
    base, _, split = path.partition("::")
    if os.path.isdir(base):
        return _read_hf_dataset(path, base, split or None)
    if not os.path.isfile(base):
        hub = parse_hub_id(path)
        if hub is None:
            raise UserError(f"data file not found: {path}")
        return _read_hub_dataset(path, *hub)
    extension = os.path.splitext(base)[1].lower()
    readers = {".jsonl": _read_jsonl, ".json": _read_json, ".csv": _read_csv, ".tsv": _read_csv, ".parquet": _read_parquet}
    if extension not in readers:
        raise UserError(f"unsupported data file {path}: expected {SUPPORTED}")
    return readers[extension](path)


def _read_jsonl(path: str) -> Iterator[tuple[int, dict[str, Any] | DataError]]:
    # Read bytes and decode per line, so one badly encoded line is one bad row, not a crash.
    with open(path, "rb") as file:
        for number, raw in enumerate(file, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                yield number, DataError(f"not valid UTF-8 ({error.reason})", path=path, line=number)
                continue
            if number == 1:
                text = text.lstrip("\ufeff")  # editors on Windows like to write a byte-order mark
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as error:
                reason = f"invalid JSON: {error.msg} (column {error.colno})"
                yield number, DataError(reason, path=path, line=number)
                continue
            yield number, _as_object(row, path, number)


def _read_json(path: str) -> Iterator[tuple[int, dict[str, Any] | DataError]]:
    with open(path, encoding="utf-8-sig") as file:
        try:
            document = json.load(file)
        except json.JSONDecodeError as error:
            raise DataError(f"invalid JSON: {error.msg} (column {error.colno})", path=path, line=error.lineno) from None
        except UnicodeDecodeError as error:
            raise UserError(f"{path}: not valid UTF-8 ({error.reason})") from None
    rows = _rows_of_document(document, path)
    for index, row in enumerate(rows):
        yield index + 1, _as_object(row, path, index + 1)


def _rows_of_document(document: Any, path: str) -> list[Any]:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        lists = [value for value in document.values() if isinstance(value, list)]
        if len(lists) == 1:
            return lists[0]
    raise UserError(f'{path}: expected a JSON list of rows or an object with one list field such as {{"data": [...]}}')


def _as_object(row: Any, path: str, number: int) -> dict[str, Any] | DataError:
    if isinstance(row, dict):
        return row
    return DataError(f"row must be a JSON object, got {type(row).__name__}", path=path, line=number)


def _read_csv(path: str) -> Iterator[tuple[int, dict[str, Any] | DataError]]:
    """Rows of a CSV (or, by extension, tab-separated) file under its header; a row's number is
    the file line it starts on, so the header is line 1."""
    delimiter = "\t" if path.lower().endswith(".tsv") else ","
    with open(path, encoding="utf-8-sig", newline="") as file:
        reader = csv.reader(file, delimiter=delimiter)
        try:
            header = next(reader, None)
            if header is None:
                return
            header = [name.strip() for name in header]
            if not all(header) or len(set(header)) != len(header):
                raise UserError(f"{path}:1: the header row needs distinct, non-empty column names, got {header}")
            start = reader.line_num + 1
            for cells in reader:
                number, start = start, reader.line_num + 1
                if not any(cell.strip() for cell in cells):
                    continue
                if len(cells) != len(header):
                    yield number, DataError(f"{len(cells)} cells, the header has {len(header)}", path=path, line=number)
                    continue
                yield number, dict(zip(header, cells))
        except UnicodeDecodeError as error:
            raise UserError(f"{path}: not valid UTF-8 ({error.reason})") from None
        except csv.Error as error:
            raise DataError(f"invalid CSV: {error}", path=path, line=reader.line_num) from None


def parse_hub_id(spec: str) -> tuple[str, str | None, str | None] | None:
    """``org/name[@revision][:split]`` -> ``(name, split, revision)``; None for anything that looks
    like a local path, so a mistyped file name is reported as missing instead of fetched."""
    if spec.startswith((".", "/", "~")) or "\\" in spec or "::" in spec:
        return None
    name, _, split = spec.partition(":")
    name, _, revision = name.partition("@")
    if not HUB_NAME.fullmatch(name) or os.path.splitext(name)[1].lower() in DATA_EXTENSIONS:
        return None
    if os.path.isdir(name.split("/")[0]):  # runs/..., data/...: a local folder, not an organisation
        return None
    return name, split or None, revision or None


def _read_hub_dataset(spec: str, name: str, split: str | None, revision: str | None) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        import datasets  # heavy and optional: only needed for this format
    except ImportError:
        raise UserError(f"data file not found: {spec} (to read it as a hub dataset: pip install datasets)") from None
    try:
        dataset = datasets.load_dataset(name, split=split or "train", revision=revision)
    except Exception as error:  # no network, no cache, no such repo or split: all one line for the user
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise UserError(f"data file not found: {spec}, and as a hub dataset it could not be loaded "
                        f"({type(error).__name__}: {detail})") from None
    # Loaded eagerly (not in a generator), so a bad id fails before any row is read, as a missing file does.
    return ((index + 1, row) for index, row in enumerate(dataset))


def _read_parquet(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet_file = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise UserError(f"cannot read parquet file {path}: {error}") from None
    number = 0
    # Batches keep memory flat on big files; to_pylist gives plain python lists, dicts and str.
    for batch in parquet_file.iter_batches():
        for row in batch.to_pylist():
            number += 1
            yield number, row


def _read_hf_dataset(path: str, directory: str, split: str | None) -> Iterator[tuple[int, dict[str, Any]]]:
    if not any(os.path.exists(os.path.join(directory, marker)) for marker in HF_MARKERS):
        raise UserError(f"{directory} is a directory but not a saved Hugging Face dataset (expected {SUPPORTED})")
    try:
        import datasets  # heavy and optional: only needed for this format
    except ImportError:
        raise UserError(f"reading {path} needs the 'datasets' package: pip install datasets") from None
    dataset = datasets.load_from_disk(directory)
    dataset = _pick_split(dataset, path, split, is_dict=isinstance(dataset, datasets.DatasetDict))
    for index, row in enumerate(dataset):
        yield index + 1, row


def _pick_split(dataset: Any, path: str, split: str | None, *, is_dict: bool) -> Any:
    if not is_dict:
        if split is not None:
            raise UserError(f"{path}: the saved dataset has no splits, drop '::{split}'")
        return dataset
    splits = list(dataset.keys())
    chosen = split or ("train" if "train" in splits else None)
    if chosen not in splits:
        wanted = f"split {split!r} not found" if split else "no 'train' split; choose one with path::split"
        raise UserError(f"{path}: {wanted} (available: {', '.join(splits)})")
    return dataset[chosen]
