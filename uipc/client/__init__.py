"""The client library: syscall functions, Pythonic classes, asyncio."""
