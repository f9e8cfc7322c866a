"""``import sysv_ipc`` under ``uipc run --compat``: uipc's drop-in."""
import sys

from uipc.compat import sysv_ipc as _compat

sys.modules[__name__] = _compat
