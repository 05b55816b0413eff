"""Write market data to CSV, Parquet or Excel files, atomically.

:func:`export` takes a DataFrame (``feed.history()``, ``feed.ticks()``,
``feed.quotes()``, or any of your own) or an iterable of events (such as
``mdsdk.replay("session.jsonl")``) and picks the format from the file's
extension. Every write goes to a temporary file in the target's directory
and is then renamed over the target in one step, so a reader (a
spreadsheet reopening the file, a script polling it) sees the old file or
the new one, never half of one.
"""

from __future__ import annotations

import os
import pathlib
import re
import secrets
from typing import Any, Callable, Dict, Iterable, List, Optional, Type, Union

from . import _validate as check
from ._extras import need
from .errors import ConfigurationError
from .events import Bar, BookSnapshot, Event, PnL, Profile, Quote, Status, Summary, Trade, notice_class
from .registry import notice_kinds

__all__ = ["export", "check_target", "FORMATS"]

PathLike = Union[str, "os.PathLike[str]"]
# extension -> the optional extra's module that writes it (None: pandas alone)
FORMATS: Dict[str, Optional[str]] = {".csv": None, ".parquet": "pyarrow", ".xlsx": "openpyxl"}
_KIND_CLASSES: Dict[str, Type[Event]] = {
    c.topic: c for c in (Quote, Trade, Bar, Summary, Profile, BookSnapshot, PnL, Status)}
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def export(data: Any, path: PathLike, *, kind: Optional[str] = None,
           sheet: Optional[str] = None) -> pathlib.Path:
    """Write ``data`` to ``path`` as ``.csv``, ``.parquet`` (the ``parquet``
    extra) or ``.xlsx`` (the ``excel`` extra), chosen by the extension, and
    return the path. ``data`` is a DataFrame (one table; in Excel one sheet
    named ``sheet``, by default after the frame's symbol and interval) or an
    iterable of events: in Excel one sheet per event kind; in CSV and Parquet
    one long table whose first column ``event`` names each row's kind, unless
    ``kind`` picks one kind, which then gets its own table (its fields as
    columns). Times are UTC: tz-aware in CSV and Parquet, naive with ``(UTC)``
    in the header in Excel, which has no time zones. The file is replaced
    atomically. Raises ConfigurationError for an unknown extension, a
    missing directory, a missing extra (with its pip command) or a failed write."""
    target = str(check_target(path))
    ext = os.path.splitext(target)[1].lower()
    cls = _kind_class(kind)
    from . import frames  # pandas loads on the first export, not at import
    if frames.is_frame(data):
        if kind is not None:
            raise ConfigurationError("kind picks events of one kind; data is a DataFrame already (drop kind)")
        tables = {_sheet(sheet, data): data}
    else:
        if sheet is not None:
            raise ConfigurationError("sheet names a DataFrame's sheet; events get one sheet per kind (drop sheet)")
        tables = _event_tables(_events(data, kind), cls, ext == ".xlsx")
    writer = _writer(ext, tables)
    _atomic(target, writer)
    return pathlib.Path(target)


def check_target(path: PathLike) -> pathlib.Path:
    """``path`` checked as :func:`export` checks it (a known extension, a
    directory that exists, the extra that writes it installed), so a caller
    can refuse a bad target before fetching the data; returns it as a Path."""
    name, ext = _target(path)
    module = FORMATS[ext]
    if module is not None:
        need(module)
    return pathlib.Path(name)


def _target(path: Any) -> tuple[str, str]:
    """``path`` checked: a writable kind of file in a directory that exists."""
    if isinstance(path, (bytes, bytearray)) or not isinstance(path, (str, os.PathLike)):
        raise ConfigurationError(f"path must be a file path (str), got {type(path).__name__} {check.show(path)}")
    name = os.fspath(path)
    accepted = ", ".join(FORMATS)
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError(f"path must be a file path ending in {accepted}, got {check.show(name, 200)}")
    ext = os.path.splitext(name)[1].lower()
    if ext not in FORMATS:
        raise ConfigurationError(f"cannot export to {check.show(name, 200)}: unknown file type "
                                 f"{check.show(ext) if ext else '(no extension)'}; use one of {accepted}")
    folder = os.path.dirname(os.path.abspath(name))
    if not os.path.isdir(folder):
        raise ConfigurationError(f"cannot export to {check.show(name, 200)}: the directory "
                                 f"{check.show(folder, 200)} does not exist; create it first (files may end in "
                                 f"{accepted})")
    if os.path.isdir(name):
        raise ConfigurationError(f"cannot export to {check.show(name, 200)}: it is a directory; name a file ending "
                                 f"in {accepted}")
    return name, ext


def _sheet(name: Optional[str], df: Any) -> str:
    """The Excel sheet name: ``name`` checked, or one made from the frame's symbol and interval or kind."""
    if name is not None:
        check.text("sheet", name, limit=31)
        if _SHEET_FORBIDDEN.search(name) or name.strip("'") != name:
            raise ConfigurationError(f"sheet must be an Excel sheet name (no []:*?/\\ and no leading or trailing "
                                     f"'), got {check.show(name, 200)}")
        return name
    attrs = getattr(df, "attrs", {})
    parts = [str(attrs[k]) for k in ("symbol", "interval", "kind") if attrs.get(k)]
    made = _SHEET_FORBIDDEN.sub("_", " ".join(parts))[:31].strip("' ")
    return made or "data"


def _events(data: Any, kind: Optional[str]) -> List[Event]:
    """The events of ``data`` (of ``kind`` only, when given), checked."""
    if isinstance(data, (str, bytes, bytearray)) or not isinstance(data, Iterable):
        raise ConfigurationError(f"data must be a DataFrame or an iterable of mdsdk events, got "
                                 f"{type(data).__name__} {check.show(data)}")
    events: List[Event] = []
    for item in data:
        if not isinstance(item, Event):
            raise ConfigurationError(f"data must hold only mdsdk events, found {type(item).__name__} "
                                     f"{check.show(item)}")
        if kind is None or item.topic == kind:
            events.append(item)
    return events


def _kind_class(kind: Optional[str]) -> Optional[Type[Event]]:
    """The event class of ``kind`` (None: every kind), or ConfigurationError naming the kinds."""
    if kind is None:
        return None
    if not isinstance(kind, str):
        raise ConfigurationError(f"kind must be one event kind (a string), got {type(kind).__name__}")
    if kind in _KIND_CLASSES:
        return _KIND_CLASSES[kind]
    check.kinds(kind, tuple(_KIND_CLASSES) + tuple(sorted(notice_kinds())), "kind")  # a provider's own kind?
    return notice_class(kind)


def _event_tables(events: List[Event], cls: Optional[Type[Event]], excel: bool) -> Dict[str, Any]:
    """Per-kind tables (Excel, or the one kind of ``cls``) or the one long table."""
    from . import frames
    if cls is not None or (excel and events):
        return frames.events_to_frames(events, [cls] if cls is not None else [])
    return {"events": frames.events_to_table(events)}


def _writer(ext: str, tables: Dict[str, Any]) -> Callable[[str], None]:
    from . import frames
    if ext == ".xlsx":
        return lambda tmp: frames.write_excel(tables, tmp)
    (table,) = tables.values()
    return (lambda tmp: frames.write_csv(table, tmp)) if ext == ".csv" else (
        lambda tmp: frames.write_parquet(table, tmp))


def _atomic(target: str, write: Callable[[str], None]) -> None:
    """Run ``write`` on a new file beside ``target``, then rename it over
    ``target``: a rename within one directory replaces the file in one step."""
    folder, base = os.path.split(os.path.abspath(target))
    stem, ext = os.path.splitext(base)
    while True:  # hidden, and ending in the real extension: writers check it
        tmp = os.path.join(folder, f".{stem}.{secrets.token_hex(4)}.tmp{ext}")
        try:  # O_EXCL: never another writer's temporary; mode 0o666 lets the umask decide, as for any new file
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise ConfigurationError(f"cannot write {check.show(target, 200)}: {exc.strerror or exc}") from None
    try:
        write(tmp)
        with open(tmp, "rb+") as done:  # on disk before the rename, or a crash could leave an empty file
            os.fsync(done.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        raise ConfigurationError(f"cannot write {check.show(target, 200)}: {exc.strerror or exc}") from None
    except (ValueError, TypeError) as exc:  # what a format refuses: a sheet past Excel's row limit, a mixed column
        raise ConfigurationError(f"cannot write {check.show(target, 200)}: {exc}") from exc
    finally:
        if os.path.exists(tmp):
            _discard(tmp)


def _discard(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:  # already gone, or the directory turned read-only: nothing more to do
        pass
