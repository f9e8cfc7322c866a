"""What user space sees: constants and structs, as include/uapi/linux/*.h.

Shared by the kernel core, the wire protocol and the client; imports nothing
else from uipc.
"""
from uipc.uapi.ipc import *  # noqa: F401,F403
from uipc.uapi.msg import *  # noqa: F401,F403
from uipc.uapi.sem import *  # noqa: F401,F403
from uipc.uapi.shm import *  # noqa: F401,F403
from uipc.uapi.mqueue import *  # noqa: F401,F403
