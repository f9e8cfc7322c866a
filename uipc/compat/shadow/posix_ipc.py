"""``import posix_ipc`` under ``uipc run --compat``: uipc's drop-in."""
import sys

from uipc.compat import posix_ipc as _compat

sys.modules[__name__] = _compat
