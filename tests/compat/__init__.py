"""The drop-in modules (uipc.compat) under the real packages' own test suites."""
