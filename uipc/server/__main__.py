import sys

from uipc.server.daemon import main

sys.exit(main())
