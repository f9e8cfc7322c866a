"""The `uipc` command."""
