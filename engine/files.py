"""Safe file reads and atomic writes (torch-free).

Reads (`read_regular`, `read_json`): only regular files (a FIFO, a device such as /dev/zero, a directory
or a socket is refused before it is opened), at most `max_bytes`, JSON nested at most `max_depth` deep;
every refusal is one `UnsafeFile` line that starts with the (shortened) path.

Writes:
- `atomic_write_bytes` / `atomic_write_text`: one file, written to a temporary name in the same folder,
  fsynced, renamed over the target. A reader never sees a half-written file.
- `atomic_folder(folder)`: a whole folder, written into a temporary sibling `.NAME.tmp-PID-XXXX`,
  fsynced, then swapped into place in one step (Linux `renameat2(RENAME_EXCHANGE)`; elsewhere: the old
  folder renamed aside, the new one renamed in, the old one deleted). A crash at any point leaves the
  complete old folder or the complete new one, plus at most a leftover temporary folder that the next
  save of that folder removes.
New files get mode 0644 and folders 0755 (less what the umask takes away).
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import secrets
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterator

FILE_MODE, DIR_MODE = 0o644, 0o755


class UnsafeFile(ValueError):
    """A file was refused (not a regular file, too large, too deeply nested, unreadable); the message is
    one line that starts with the path."""


def short_path(path: os.PathLike | str, limit: int = 160) -> str:
    """The path for a message: long paths are cut in the middle (a 5,000-character name stays one line)."""
    s = os.fspath(path)
    s = s.decode("utf-8", "replace") if isinstance(s, bytes) else s
    s = s.replace("\n", "\\n").replace("\r", "\\r")
    if len(s) <= limit:
        return s
    return f"{s[: limit // 2]}…{s[-limit // 3:]} ({len(s)} characters)"


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _os_error(path, exc: OSError) -> UnsafeFile:
    reason = {errno.ENAMETOOLONG: "name too long", errno.ELOOP: "too many levels of symbolic links",
              errno.EACCES: "permission denied", errno.ENOTDIR: "a part of the path is not a folder"}.get(
        exc.errno, exc.strerror or str(exc))
    return UnsafeFile(f"{short_path(path)}: cannot be read ({reason})")


def regular_stat(path: os.PathLike | str) -> os.stat_result:
    """os.stat of a regular file (symlinks followed: a link to /dev/zero is a device). FileNotFoundError
    when it does not exist; UnsafeFile for a FIFO, a device, a directory, a socket, a bad name."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise
    except ValueError as exc:                    # embedded NUL character
        raise UnsafeFile(f"{short_path(path)}: not a valid file name ({exc})") from None
    except OSError as exc:
        raise _os_error(path, exc) from None
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFile(f"{short_path(path)}: {_kind(st.st_mode)}, not a regular file; refused")
    return st


def read_regular(path: os.PathLike | str, max_bytes: int, limit_name: str = "") -> bytes:
    """The bytes of a regular file of at most `max_bytes`. FileNotFoundError when it does not exist;
    UnsafeFile for anything else (a FIFO, a device, a directory, too large, a name too long, ...)."""
    where = f" ({limit_name} in engine/limits.py)" if limit_name else ""
    st = regular_stat(path)
    if st.st_size > max_bytes:
        raise UnsafeFile(f"{short_path(path)}: {st.st_size:,} bytes, over the limit of {max_bytes:,}{where}")
    try:                                         # O_NONBLOCK: a FIFO swapped in after the stat cannot block
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise _os_error(path, exc) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(f"{short_path(path)}: {_kind(st.st_mode)}, not a regular file; refused")
        chunks, total = [], 0
        while total <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            raise UnsafeFile(f"{short_path(path)}: over the limit of {max_bytes:,} bytes{where}")
        return b"".join(chunks)
    except OSError as exc:
        raise _os_error(path, exc) from None
    finally:
        os.close(fd)


def json_depth_ok(value: Any, max_depth: int) -> bool:
    """True if `value` (parsed JSON) nests lists / objects at most `max_depth` deep."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (list, dict)):
            if d > max_depth:
                return False
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return True


def parse_json(text: str | bytes, source: str, max_depth: int) -> Any:
    """json.loads with one-line UnsafeFile errors (invalid JSON, invalid UTF-8, nested too deeply)."""
    too_deep = UnsafeFile(f"{source}: JSON nested more than {max_depth} levels deep (MAX_JSON_DEPTH in "
                          "engine/limits.py)")
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        value = json.loads(text)
    except UnicodeDecodeError as exc:
        raise UnsafeFile(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise UnsafeFile(f"{source}: not valid JSON ({exc.msg}: line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise too_deep from None
    except ValueError as exc:                    # e.g. an integer of more than 4,300 digits
        raise UnsafeFile(f"{source}: not valid JSON ({str(exc).splitlines()[0][:120]})") from None
    if not json_depth_ok(value, max_depth):
        raise too_deep
    return value


def read_json(path: os.PathLike | str, max_bytes: int, max_depth: int, limit_name: str = "") -> Any:
    """Parsed JSON of a regular file of at most `max_bytes`, nested at most `max_depth` deep."""
    return parse_json(read_regular(path, max_bytes, limit_name), short_path(path), max_depth)


# -- single files ------------------------------------------------------------------------------------

def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:200]}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), FILE_MODE & ~_umask())      # mkstemp makes 0600
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_new_file(path: Path, data: bytes) -> None:
    """Create `path` (it must not exist) with mode 0644 and write `data`, fsynced (inside atomic_folder)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


# -- whole folders -------------------------------------------------------------------------------------

def _fsync_path(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    try:
        os.fsync(fd)
    except OSError:       # some file systems cannot fsync a directory
        if not directory:
            raise
    finally:
        os.close(fd)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE). False where that is not available."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), os.fspath(b))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def _prefix(folder: Path) -> str:
    return f".{folder.name[:200]}."


def _leftovers(folder: Path) -> list[tuple[Path, str]]:
    """Temporary (`tmp`) and set-aside (`old`) siblings of `folder` left by a save whose process died."""
    found = []
    if not folder.parent.is_dir():
        return found
    prefix = _prefix(folder)
    for p in folder.parent.iterdir():
        name = p.name
        if not name.startswith(prefix):
            continue
        kind, _, rest = name[len(prefix):].partition("-")
        pid = rest.split("-", 1)[0]
        if kind in ("tmp", "old") and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            found.append((p, kind))
    return found


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def clean_leftovers(folder: Path) -> None:
    """Remove what an interrupted save of `folder` left behind; if the interruption came between setting
    the old folder aside and renaming the new one in (the fallback without RENAME_EXCHANGE), put the old
    folder back first."""
    folder = Path(folder)
    left = _leftovers(folder)
    for p, kind in left:
        if kind == "old" and not os.path.lexists(folder):
            os.rename(p, folder)
    for p, _ in left:
        if os.path.lexists(p):
            _remove(p)


@contextlib.contextmanager
def atomic_folder(folder: os.PathLike | str) -> Iterator[Path]:
    """`with atomic_folder(path) as tmp:` write the files into `tmp`; on a normal exit the folder replaces
    `path` as a whole (see the module docstring); on an exception `path` is untouched and `tmp` removed."""
    folder = Path(folder)
    if not folder.name or folder.name in (".", ".."):
        raise ValueError(f"{short_path(folder)}: a folder to save needs a name")
    folder.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(folder) and not folder.is_dir():
        raise ValueError(f"{short_path(folder)}: exists and is not a folder; refusing to replace it")
    clean_leftovers(folder)
    tag = f"{os.getpid()}-{secrets.token_hex(4)}"
    tmp = folder.parent / f"{_prefix(folder)}tmp-{tag}"
    os.mkdir(tmp, DIR_MODE)
    try:
        yield tmp
        mode = FILE_MODE & ~_umask()
        for root, dirs, files in os.walk(tmp):
            for name in files:
                p = Path(root, name)
                os.chmod(p, mode)
                _fsync_path(p)
            for name in dirs:
                _fsync_path(Path(root, name), directory=True)
        _fsync_path(tmp, directory=True)
        _swap_in(tmp, folder, tag)
    except BaseException:
        if os.path.lexists(tmp):
            _remove(tmp)
        raise
    _fsync_path(folder.parent, directory=True)


def _swap_in(tmp: Path, folder: Path, tag: str) -> None:
    if not os.path.lexists(folder):
        os.rename(tmp, folder)                       # a first save: one rename
        return
    if _exchange(tmp, folder):                       # tmp now holds the old folder
        _remove(tmp)
        return
    aside = folder.parent / f"{_prefix(folder)}old-{tag}"
    os.rename(folder, aside)
    try:
        os.rename(tmp, folder)
    except BaseException:
        os.rename(aside, folder)
        raise
    _remove(aside)
