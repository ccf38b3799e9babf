"""The result cache: a second run on an unchanged tree parses nothing.

Layout (``.dropcheck_cache/`` by default, as ruff's ``.ruff_cache/``)::

    .dropcheck_cache/
        .gitignore           "*": the folder never shows up in ``git status``
        CACHEDIR.TAG         backup tools skip it
        <key>.json           one file per run configuration

``<key>`` hashes everything findings depend on besides the file itself: the dropcheck version,
a fingerprint of dropcheck's own code (so a development checkout never serves stale results),
and the effective options (selected rules, rule settings, size cap, ...). Inside, each linted
path maps to the BLAKE2 hash of its bytes and its findings. A file's ``stat`` (size, mtime,
inode) is remembered too, so an unchanged file is not even read; a file whose stat changed is
read and hashed, and its entry is reused only if the content hash still matches.

The cache is an optimisation, never a source of truth: an unreadable, corrupt or partly
written cache file, or an entry of the wrong shape, is ignored (and rewritten by the run).
Results that say a file could not be analysed (DC000) are never stored, so errors are always
re-examined and ``--verbose`` can show their tracebacks. Writes are atomic (a temporary file
in the same folder, then ``os.replace``), so an interrupted run leaves no partial file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dropcheck import __version__
from dropcheck.findings import NOT_ANALYSED_CODE, Finding, Fix

DEFAULT_CACHE_DIR = ".dropcheck_cache"
#: Bumped when the layout of a cache file changes.
FORMAT = 2  # 2: entries record the files their findings depend on
#: A file modified this close to the moment its stat was recorded may change again within the
#: file system's timestamp granularity without its mtime changing ("racy git"): such entries
#: keep their content hash but not their stat, so the next run re-reads and re-hashes them.
RACY_SECONDS = 2.0

StatKey = tuple[int, int, int]


def stat_key(st: os.stat_result) -> StatKey:
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@functools.cache  # once per process, whatever the number of settings groups
def code_fingerprint() -> str:
    """Identifies the dropcheck code that produced a result: its version and the bytes of
    every module of the package (~1 MB, a few ms). Not their modification times: pip gives an
    installed file the time of the install, so a CI job that installs dropcheck afresh and
    restores the cache folder (README: "In CI") would never find its entries."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{__version__}:{FORMAT}".encode())
    root = Path(__file__).resolve().parent
    for path in sorted([*root.rglob("*.py"), *root.rglob("*.json")]):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        digest.update(f"{path.relative_to(root)}:{len(data)}:".encode())
        digest.update(hashlib.blake2b(data, digest_size=16).digest())
    return digest.hexdigest()


def settings_key(options: Any) -> str:
    """A stable hash of the effective options (a ``LintOptions``), whatever fields it has."""
    material: dict[str, Any] = {"code": code_fingerprint()}
    for field in dataclasses.fields(options):
        if field.name == "verbose":
            continue  # tracebacks on stderr: the findings are the same
        value = getattr(options, field.name)
        if field.name == "rules":
            value = sorted(rule.code for rule in value)
        material[field.name] = value
    text = json.dumps(material, sort_keys=True, default=_stable)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _stable(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return repr(value)


def _encode(finding: Finding) -> dict[str, Any]:
    data = finding.to_dict()
    del data["path"]  # the entry's path; keeps the file small
    return data


def _decode(path: str, data: Any) -> Finding:
    if not isinstance(data, dict):
        raise ValueError("finding is not an object")
    fields = dict(data)
    fix = fields.get("fix")
    if fix is not None:
        fields["fix"] = Fix.from_dict(fix)
    return Finding(path=path, **fields)


@dataclass
class Entry:
    hash: str
    stat: StatKey | None
    findings: list[dict[str, Any]]
    #: Other files the findings depend on (a class imported from models.py): path -> hash.
    deps: dict[str, str] = dataclasses.field(default_factory=dict)


class Cache:
    """Cached findings of one configuration, loaded once and saved once per run."""

    def __init__(self, folder: Path, key: str) -> None:
        self.folder = folder
        self.file = folder / f"{key}.json"
        self.entries: dict[str, Entry] = {}
        self.dirty = False
        self._current: dict[str, str | None] = {}  # dependency path -> its hash in this run
        self._load()

    # -- reading -------------------------------------------------------------------------------
    def _load(self) -> None:
        try:
            raw = self.file.read_bytes()
        except OSError:
            return
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError("unknown format")
            files = data["files"]
            if not isinstance(files, dict):
                raise ValueError("files is not an object")
        except (ValueError, KeyError, TypeError, RecursionError):
            self.dirty = True  # corrupt: ignored, and rewritten at the end of the run
            return
        for path, item in files.items():
            entry = _entry(item)
            if entry is None:
                self.dirty = True
            else:
                self.entries[path] = entry

    def lookup_stat(self, path: str, st: os.stat_result) -> list[Finding] | None:
        """Findings for ``path`` if its stat is exactly what was recorded (no read needed)."""
        entry = self.entries.get(path)
        if entry is None or entry.stat is None or entry.stat != stat_key(st):
            return None
        return self._findings(path, entry)

    def lookup_hash(self, path: str, digest: str, st: os.stat_result) -> list[Finding] | None:
        """Findings for ``path`` if its content hash matches (its stat changed, not its bytes)."""
        entry = self.entries.get(path)
        if entry is None or entry.hash != digest:
            return None
        found = self._findings(path, entry)
        if found is not None:
            entry.stat = _trusted_stat(st)
            self.dirty = True
        return found

    def dependencies_unchanged(self, entry: Entry) -> bool:
        """Whether every file an entry's findings depend on still has the recorded bytes
        (each read at most once per run)."""
        for dep, recorded in entry.deps.items():
            if dep not in self._current:
                try:
                    self._current[dep] = content_hash(Path(dep).read_bytes())
                except OSError:
                    self._current[dep] = None
            if self._current[dep] != recorded:
                return False
        return True

    def _findings(self, path: str, entry: Entry) -> list[Finding] | None:
        try:
            return [_decode(path, item) for item in entry.findings]
        except (ValueError, KeyError, TypeError):
            del self.entries[path]
            self.dirty = True
            return None

    # -- writing -------------------------------------------------------------------------------
    def store(self, path: str, digest: str, st: os.stat_result,
              findings: Iterable[Finding], deps: Mapping[str, str] | None = None) -> None:
        findings = list(findings)
        if any(f.code == NOT_ANALYSED_CODE for f in findings):
            if self.entries.pop(path, None) is not None:
                self.dirty = True
            return
        self.entries[path] = Entry(digest, _trusted_stat(st), [_encode(f) for f in findings],
                                   dict(deps or {}))
        self.dirty = True

    def save(self) -> str | None:
        """Write the cache atomically; returns a warning instead of raising."""
        if not self.dirty:
            return None
        try:
            prepare_folder(self.folder)
            payload = json.dumps({
                "format": FORMAT,
                "files": {
                    path: {"hash": e.hash, "stat": e.stat, "findings": e.findings,
                           **({"deps": e.deps} if e.deps else {})}
                    for path, e in sorted(self.entries.items())
                },
            }, separators=(",", ":")).encode()
            atomic_write(self.file, payload)
        except OSError as error:
            return f"cache not written to {self.folder}: {error.strerror or error}"
        self.dirty = False
        return None


def _trusted_stat(st: os.stat_result) -> StatKey | None:
    if time.time() - st.st_mtime_ns / 1e9 < RACY_SECONDS:
        return None
    return stat_key(st)


def _entry(item: Any) -> Entry | None:
    if not isinstance(item, Mapping):
        return None
    digest, st, findings = item.get("hash"), item.get("stat"), item.get("findings")
    deps = item.get("deps", {})
    if not isinstance(digest, str) or not isinstance(findings, list) or not (
            isinstance(deps, dict) and all(isinstance(v, str) for v in deps.values())):
        return None
    if st is not None:
        if not (isinstance(st, list) and len(st) == 3 and all(isinstance(x, int) for x in st)):
            return None
        st = (st[0], st[1], st[2])
    return Entry(digest, st, findings, dict(deps))


def prepare_folder(folder: Path) -> None:
    """Create the cache folder with its own ``.gitignore`` (and a CACHEDIR.TAG)."""
    folder.mkdir(parents=True, exist_ok=True)
    gitignore = folder / ".gitignore"
    if not gitignore.exists():
        atomic_write(gitignore, b"# Automatically created by dropcheck.\n*\n")
    tag = folder / "CACHEDIR.TAG"
    if not tag.exists():
        atomic_write(tag, b"Signature: 8a477f597d28d172789f06886806bc55\n"
                          b"# This file is a cache directory tag created by dropcheck.\n")


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    import tempfile  # only when writing: a one-file run on a warm cache writes nothing

    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, 0o644)  # mkstemp's 0600 would surprise; the data is not secret
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:  # including KeyboardInterrupt: never leave the temporary behind
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def open_cache(folder: str | os.PathLike[str], options: Any) -> tuple[Cache | None, str | None]:
    """The cache for these options, or None and a warning when the folder is unusable
    (a read-only checkout: linting goes on without a cache)."""
    path = Path(folder)
    try:
        prepare_folder(path)
    except OSError as error:
        return None, f"cache disabled: cannot write {path}: {error.strerror or error}"
    return Cache(path, settings_key(options)), None
