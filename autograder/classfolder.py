"""A class folder: every submission under a folder (flat, one folder per student, or nested) or inside an LMS
.zip (Canvas, Moodle, Blackboard layouts: lms.identify), each an Entry with who handed it in and a safe name
for its reports. A file that cannot be graded (a link, a folder, an oversized zip member) is still an Entry,
refused with the reason, so its row says why."""

from __future__ import annotations

import os
import re
import unicodedata
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

from . import lms, submission
from .errors import SetupError

SKIP_DIRS = {".ipynb_checkpoints", "__MACOSX", ".results"}


@dataclass(frozen=True)
class Entry:
    """One submission found in the class folder."""

    student: str  # the id or name taken from the file or folder name
    path: Path  # where the file is (inside a temporary folder for a .zip)
    file: str  # as the instructor knows it: relative to the folder, or zip name + member
    stem: str  # a safe file name for its report
    identity: lms.Identity = lms.Identity("")  # who, as the file name says (LMS ids included)
    refused: str = ""  # why it is not graded at all (a folder, a link, an oversized zip member): its row says so


# Letters that Unicode does not split into a base letter and an accent.
SPELLED_OUT = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE", "ł": "l",
                             "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "þ": "th", "ı": "i"})


def _safe(name: str) -> str:
    """A file name for a student's reports that reads as their name: accents dropped (María López →
    Maria_Lopez), spaces and punctuation as '_'. '' when the name has letters with no such spelling (李华),
    so the caller can use the LMS id instead of a mangled name."""
    plain = unicodedata.normalize("NFKD", name.translate(SPELLED_OUT))
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    if any(ch.isalnum() and not ch.isascii() for ch in plain):
        return ""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", plain).strip("._")  # also drops undecodable bytes


def _stem(who: lms.Identity, relative: Path, alone: bool) -> str:
    """The readable file name for a submission's reports: the student's name, else their LMS id."""
    name = _safe(who.student) or (f"{who.system}_{who.lms_id}" if who.lms_id else "") or "submission"
    return name if alone else f"{name}__{_safe(relative.stem) or 'CNN'}"


# What a class's .zip may unpack to. A zip can claim little and expand to gigabytes (a "zip bomb"): each member
# is counted as it is written, and what passes a bound is refused with a reason, never the whole class.
MAX_MEMBER_BYTES = submission.MAX_BYTES
MAX_ZIP_BYTES = 2 * 2**30
MAX_ZIP_MEMBERS = 10_000


def _unzip(archive: Path, into: Path) -> dict[str, str]:
    """Extract only .ipynb members, refusing paths that leave the folder. Returns {member: why it was not
    extracted} for the members refused (too large, too many, the disk full)."""
    refused, total = {}, 0
    with zipfile.ZipFile(archive) as zf:
        members = [m for m in zf.infolist() if not m.is_dir() and Path(m.filename).suffix == ".ipynb"]
        for n, member in enumerate(members):
            name = Path(member.filename)
            if name.is_absolute() or ".." in name.parts:
                continue
            target = into / name
            why = (f"the zip holds more than {MAX_ZIP_MEMBERS:,} notebooks; this one was not unpacked"
                   if n >= MAX_ZIP_MEMBERS else _extract(zf, member, target, min(MAX_MEMBER_BYTES, MAX_ZIP_BYTES - total)))
            if why:
                refused[member.filename] = why
                target.unlink(missing_ok=True)
            else:
                total += target.stat().st_size
    return refused


def _extract(zf: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, room: int) -> str:
    """Copy one member, counting what is really written (a member's declared size may lie); '' when done."""
    too_large = (f"it unpacks to more than {room / 2**20:,.0f} MB, far more than a notebook: not unpacked "
                 "(a damaged or deliberately inflated file)")
    if member.file_size > room:
        return too_large
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with zf.open(member) as src, open(target, "wb") as dst:
            while chunk := src.read(2**20):
                written += len(chunk)
                if written > room:
                    return too_large
                dst.write(chunk)
    except OSError as exc:  # the temporary folder is full, or the member is damaged
        return f"it could not be unpacked ({exc.strerror or exc})"
    except (zipfile.BadZipFile, EOFError, RuntimeError) as exc:  # a damaged or encrypted member
        return f"it could not be unpacked ({exc})"
    return ""


def _why_not_a_file(path: Path) -> str:
    """Why an entry named *.ipynb cannot be graded as a file of this class; '' when it can."""
    if path.is_symlink():
        return ("a link to another file, not a file: links are not followed, so that nothing from outside the "
                "class folder is graded as this student's")
    if path.is_dir():
        return "a folder named like a notebook, not a notebook file"
    if not path.is_file():
        return "not a regular file"
    return ""


def _notebooks_under(root: Path) -> list[Path]:
    """Every entry named *.ipynb below root, links and folders included (each becomes a row), without
    following a link to a folder."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        found += [Path(folder) / name for name in (*dirs, *files) if name.endswith(".ipynb")]
    return sorted(found)


def discover(source: Path, scratch: Path, notebook: str = "CNN.ipynb") -> list[Entry]:
    """Every .ipynb under `source` (a folder or a .zip), in a stable order."""
    source = Path(source)
    refused = {}
    if source.is_file() and source.suffix == ".zip":
        root = scratch / "unzipped"
        root.mkdir()
        try:
            refused = _unzip(source, root)
        except (zipfile.BadZipFile, OSError) as exc:
            raise SetupError(source, f"cannot read it as a .zip file ({exc}); download the export again") from None
        label = source.name + ":"
    elif source.is_dir():
        root, label = source, ""
    else:
        raise SetupError(source, "give a folder of notebooks or an LMS .zip export")
    # Folders inside a zip's single top folder count as the student folders.
    tops = [p for p in root.iterdir() if p.name not in SKIP_DIRS]
    top = tops[0].name + "/" if label and len(tops) == 1 and tops[0].is_dir() else ""
    root = root / top if top else root
    files = [(path, path.relative_to(root), _why_not_a_file(path)) for path in _notebooks_under(root)]
    files += [(root / "refused" / name.removeprefix(top), Path(name.removeprefix(top)), why)
              for name, why in refused.items()]
    found = [(path, relative, lms.identify(relative, notebook), why) for path, relative, why in files]
    per_student: dict[str, int] = {}
    for _, _, who, _ in found:
        per_student[who.student] = per_student.get(who.student, 0) + 1
    entries: list[Entry] = []
    stems: set[str] = set()
    for path, relative, who, why in found:
        stem = _stem(who, relative, per_student[who.student] == 1)
        while stem in stems:  # two students whose names differ only in punctuation keep both reports
            stem += "_"
        stems.add(stem)
        entries.append(Entry(student=who.student, path=path, file=label + relative.as_posix(), stem=stem,
                             identity=who, refused=why))
    return entries


def readable(entry: Entry) -> Entry:
    """The entry, or the same entry refused when its file cannot be read (permissions, vanished)."""
    if entry.refused:
        return entry
    try:
        with open(entry.path, "rb"):
            return entry
    except OSError as exc:
        return replace(entry, refused=f"the file cannot be read ({exc.strerror or exc})")
