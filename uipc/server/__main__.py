import sys

from uipc.cli.daemon import main

sys.exit(main())
