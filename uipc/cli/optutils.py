"""util-linux's include/optutils.h: err_exclusive_options().

A table is a list of rows of mutually exclusive short options, each row
sorted and the rows sorted by their first option, as in C (``ul_excl_t``);
``status`` remembers, per row, the option of it seen first.  The C check
walks the rows only while they begin at or before the option, which makes
a row that begins past an earlier row's options never checked for them.
"""
from __future__ import annotations

from uipc.cli.tool import Tool

ExclTable = list[list[str]]


def new_status(table: ExclTable) -> list[str | None]:
    """``int excl_st[ARRAY_SIZE(excl)] = UL_EXCL_STATUS_INIT``."""
    return [None] * len(table)


def err_exclusive_options(tool: Tool, opt: str, table: ExclTable, status: list[str | None],
                          names: dict[str, str]) -> None:
    """err_exclusive_options(c, longopts, excl, excl_st): errx() naming the
    row's long options if ``opt`` meets another option of a row already seen.
    ``names`` gives each letter's long option."""
    if len(opt) != 1:
        return  # long-only options (past CHAR_MAX in C) are in no row
    for e, row in enumerate(table):
        if row[0] > opt:
            break
        for op in row:
            if op > opt:
                break
            if op != opt:
                continue
            if status[e] is None:
                status[e] = opt
            elif status[e] != opt:
                tool.errx("mutually exclusive arguments:"
                          + "".join(f" --{names[o]}" for o in row))
            break
