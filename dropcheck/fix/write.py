"""Writing a fixed file atomically: a temporary file in the same folder, then a rename, so an
interrupted run leaves either the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile

from dropcheck.fix.source import FixError


def write_atomic(path: str, expected: bytes, data: bytes) -> None:
    """Replace the file at ``path`` with ``data``, if it still holds ``expected``.

    The mode bits (and, where allowed, the owner) are kept; a symlink is followed so that the
    link stays a link. A file we could not write in place (read-only) is refused.
    """
    target = os.path.realpath(path)
    try:
        st = os.stat(target)
    except OSError as error:
        raise FixError(f"cannot stat the file: {error.strerror or error}") from error
    if not stat.S_ISREG(st.st_mode):
        raise FixError("not a regular file")
    if not os.access(target, os.W_OK) or not st.st_mode & 0o222:  # root ignores modes
        raise FixError("the file is not writable")
    try:
        with open(target, "rb") as handle:
            current = handle.read()
    except OSError as error:
        raise FixError(f"cannot read the file again: {error.strerror or error}") from error
    if current != expected:
        raise FixError("the file changed while it was being fixed")
    folder = os.path.dirname(target) or "."
    name = os.path.basename(target)
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".dropcheck-tmp", dir=folder)
    except OSError as error:
        raise FixError(f"cannot create a temporary file: {error.strerror or error}") from error
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, stat.S_IMODE(st.st_mode))
        if hasattr(os, "chown"):
            with contextlib.suppress(OSError):
                os.chown(temp, st.st_uid, st.st_gid)
        os.replace(temp, target)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(error, OSError):
            raise FixError(f"cannot write the file: {error.strerror or error}") from error
        raise
    # Make the rename itself durable where the platform allows it.
    with contextlib.suppress(OSError, AttributeError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
