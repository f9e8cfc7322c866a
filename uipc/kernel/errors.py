"""The one exception type of the core.

Inside the core every failure is a :class:`KernelError` carrying Linux's errno
and a sentence saying which rule fired; the syscall boundary turns it into an
error reply, the client into ``OSError``, the CLI into util-linux wording.
"""
from __future__ import annotations

import errno as _errno


class KernelError(Exception):
    """A syscall failed with ``errno``; ``detail`` says why, for humans."""

    def __init__(self, errno: int, detail: str = "") -> None:
        super().__init__(errno, detail)
        self.errno = errno
        self.detail = detail

    @property
    def name(self) -> str:
        return _errno.errorcode.get(self.errno, str(self.errno))

    def __str__(self) -> str:
        # the errno's name, not strerror's text: the core stays free of os
        # (the client's OSError carries the C library's text)
        return f"{self.name} ({self.detail})" if self.detail else self.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KernelError) and other.errno == self.errno

    def __hash__(self) -> int:
        return hash(self.errno)
