"""OS errors that arrive in another library's clothes, read back as :class:`OSError`."""

from __future__ import annotations

import os
import re
from pathlib import Path

_RUST_IO_ERROR = re.compile(r"\(os error (\d+)\)")
"""How a Rust library (safetensors, tokenizers) writes the errno of an I/O error it raises as its
own exception type: ``I/O error: No space left on device (os error 28)``."""


def io_error(exc: Exception, path: Path | None) -> OSError | None:
    """``exc`` as the :class:`OSError` it stands for, naming ``path`` where it names none, or None.

    Saving an adapter or a pretrained base goes through safetensors, whose Rust code reports a full
    disk or a read-only directory as ``SafetensorError`` rather than :class:`OSError`; read as the
    errno it carries, it is reported like any other OS error (``DeploymentLoop._os_error``).
    """
    if isinstance(exc, OSError):
        if exc.filename is None and path is not None:
            return OSError(exc.errno, exc.strerror or str(exc), str(path))
        return exc
    match = _RUST_IO_ERROR.search(str(exc))
    if match is None:
        return None
    code = int(match[1])
    return OSError(code, os.strerror(code), None if path is None else str(path))
