"""File I/O for the settings files: bounded reads of regular files, atomic replacement."""

from __future__ import annotations

import codecs
import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path
from typing import Final

import attrs

from visivo.telemetry.policy.settings.keys import MAX_FILE_BYTES, Problem, SettingsError

_READ_CHUNK: Final = 64 * 1024


@attrs.frozen
class Loaded:
    text: str  # decoded, without the BOM
    bom: bool
    mode: int
    size: int  # bytes


class NotUtf8(Problem):
    """The file is not UTF-8; ``text`` is what it says with the bad bytes replaced."""

    def __init__(self, message: str, text: str) -> None:
        super().__init__(message)
        self.text = text


def load(path: Path) -> Loaded | None:
    """The decoded text of a regular file, None if it does not exist; raises Problem."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    flags |= getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise Problem("is a directory, not a file") from None
    except OSError as exc:
        exists = os.path.lexists(path)
        raise Problem(f"cannot be read: {exc.strerror or exc}", exists=exists) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise Problem("is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            # A FIFO or a device could block or never end: never read one.
            raise Problem("is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise Problem(f"is larger than {MAX_FILE_BYTES} bytes: not read")
        chunks: list[bytes] = []
        remaining = MAX_FILE_BYTES + 1  # the file may grow after fstat
        while remaining > 0:
            chunk = os.read(fd, min(remaining, _READ_CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as exc:
        raise Problem(f"cannot be read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > MAX_FILE_BYTES:
        raise Problem(f"is larger than {MAX_FILE_BYTES} bytes: not read")
    bom = data.startswith(codecs.BOM_UTF8)
    body = data[len(codecs.BOM_UTF8) :] if bom else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        raise NotUtf8(
            f"line {line}: not valid UTF-8 (byte 0x{body[exc.start]:02x})",
            body.decode("utf-8", "replace"),
        ) from None
    return Loaded(text, bom, stat.S_IMODE(info.st_mode), len(data))


def write_atomic(path: Path, data: bytes, mode: int | None, shown: Path) -> None:
    """Replace ``path`` with ``data`` atomically, keeping ``mode`` (None: a new file)."""
    temp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(temp, flags, 0o666 if mode is None else 0o600)
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            if mode is not None:
                os.chmod(temp, mode)
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
    except OSError as exc:
        reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
        raise SettingsError(f"{shown}: cannot write: {reason} (file not changed)") from None
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename durable where the platform allows it (best effort)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def make_private_dir(folder: Path, shown: Path) -> None:
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        return
    except OSError as exc:
        raise SettingsError(f"{shown}: cannot create {folder}: {exc.strerror or exc}") from None
    os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask
