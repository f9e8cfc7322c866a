"""A small libsmartcols: the table, raw, export and JSON printers util-linux's
lsipc prints through (util-linux 2.38.1, libsmartcols/src/print.c,
calculate.c, print-api.c; lib/jsonwrt.c, lib/mbsalign.c, include/carefulputc.h).

Only what lsipc uses is here: a flat table (no trees, groups, colours,
titles or wrapping), columns with a width hint and the RIGHT, TRUNC and
NOEXTREMES flags, and the four output formats.  The width calculation is
libsmartcols' own (``__scols_calculate``): every column is as wide as its
widest cell or its header; on a terminal the table is then fitted to the
terminal's width in libsmartcols' three stages (only TRUNC columns with a
relative hint, then every TRUNC column, then relative columns).

Cells are ``str`` (bytes that are not UTF-8 ride as surrogate escapes) or
``None``: an unset cell, which JSON prints as null as it does an empty one.
The output is bytes, as C's stdio writes them.
"""
from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass, field
from typing import BinaryIO

# column flags (the SCOLS_FL_* lsipc uses)
FL_TRUNC = 1 << 0
FL_RIGHT = 1 << 2
FL_NOEXTREMES = 1 << 3
FL_HIDDEN = 1 << 5

# output formats (SCOLS_FMT_*)
HUMAN, RAW, EXPORT, JSON = range(4)

_CNTRL = set(range(0x20)) | {0x7F}


def utf8_locale(environ: os._Environ[str] | dict[str, str] = os.environ) -> bool:
    """Whether setlocale(LC_ALL, "") would give a UTF-8 LC_CTYPE: the first
    of LC_ALL, LC_CTYPE, LANG that is set names the locale."""
    for var in ("LC_ALL", "LC_CTYPE", "LANG"):
        value = environ.get(var)
        if value:
            norm = value.lower().replace("-", "")
            return "utf8" in norm
    return False


def _wcwidth(ch: str) -> int:
    """wcwidth(3) for a printable character, as glibc's tables have it
    (combining marks 0, East Asian wide and full-width 2)."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _iswprint(ch: str) -> bool:
    return unicodedata.category(ch) not in ("Cc", "Cs", "Cn", "Co", "Zl", "Zp")


def safe_encode(data: str, utf8: bool) -> tuple[str, int]:
    """mbs_safe_encode_to_buffer(): control characters, a backslash that
    starts ``\\x``, and bytes that are no printable character in the locale
    become ``\\xNN``.  Returns the encoded text and its width in cells."""
    raw = data.encode("utf-8", "surrogateescape")
    out: list[str] = []
    width = 0
    i = 0
    while i < len(raw):
        b = raw[i]
        if (b == 0x5C and raw[i + 1:i + 2] == b"x") or b in _CNTRL:
            out.append(f"\\x{b:02x}")
            width += 4
            i += 1
            continue
        if b < 0x80:
            out.append(chr(b))
            width += 1
            i += 1
            continue
        ch, n = _decode_one(raw, i) if utf8 else (None, 1)
        if ch is None:  # not a valid multibyte sequence: no printable byte here
            out.append(f"\\x{b:02x}")
            width += 4
        elif not _iswprint(ch):
            out.extend(f"\\x{c:02x}" for c in raw[i:i + n])
            width += 4 * n
        else:
            out.append(ch)
            width += _wcwidth(ch)
        i += n
    return "".join(out), width


def _decode_one(raw: bytes, i: int) -> tuple[str | None, int]:
    """mbrtowc() of one UTF-8 character at raw[i] (None: an invalid sequence, 1 byte)."""
    for n in (2, 3, 4):
        try:
            return raw[i:i + n].decode("utf-8"), n
        except UnicodeDecodeError:
            continue
    return None, 1


def truncate(data: str, width: int) -> tuple[str, int]:
    """mbs_truncate(): the longest prefix of at most ``width`` cells, and its width."""
    cells = 0
    for n, ch in enumerate(data):
        w = _wcwidth(ch) if ord(ch) >= 0x80 else 1
        if cells + w > width:
            return data[:n], cells
        cells += w
    return data, cells


def shellvar(name: str) -> str:
    """scols_column_get_name_as_shellvar(): "1FOO%" -> "_1FOO_PCT"."""
    if not name:
        return name
    out = "" if name[0].isascii() and name[0].isalpha() else "_"
    out += "".join(c if c.isascii() and c.isalnum() else "_" for c in name)
    if name.endswith("%"):
        out += "PCT"
    return out


def fputs_quoted(data: str) -> str:
    """carefulputc.h fputs_quoted(): export's NAME="value" quoting."""
    out = ['"']
    for b in data.encode("utf-8", "surrogateescape"):
        if b in (0x22, 0x5C, 0x60, 0x24) or not 0x20 <= b < 0x7F:
            out.append(f"\\x{b:02x}")
        else:
            out.append(chr(b))
    out.append('"')
    return "".join(out)


def fputs_nonblank(data: str) -> str:
    """carefulputc.h fputs_nonblank(): raw output's escaping of blanks."""
    out = []
    for b in data.encode("utf-8", "surrogateescape"):
        if b in (0x20, 0x09, 0x5C) or not 0x20 <= b < 0x7F:
            out.append(f"\\x{b:02x}")
        else:
            out.append(chr(b))
    return "".join(out)


def json_quoted(data: str, lower: bool = False) -> str:
    """lib/jsonwrt.c fputs_quoted_case_json(): '"' and '\\' escaped, control
    characters as \\b \\t \\n \\f \\r or \\u00XX, every other byte as it is."""
    out = ['"']
    for ch in data:
        c = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif c >= 0x20:
            out.append(ch.lower() if lower and c < 0x80 else ch)
        else:
            out.append({8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}.get(c, f"\\u00{c:02x}"))
    out.append('"')
    return "".join(out)


class JsonWriter:
    """lib/jsonwrt.c: libsmartcols' JSON layout (three-space indents, "},{")."""

    OBJECT, ARRAY, VALUE = range(3)

    def __init__(self, out: list[str]) -> None:
        self.out = out
        self.indent = 0
        self.after_close = False

    def _indent(self) -> None:
        self.out.append("   " * self.indent)

    def open(self, name: str | None, kind: int) -> None:
        """ul_jsonwrt_open()"""
        if name is not None:
            if self.after_close:
                self.out.append(",\n")
            self._indent()
            self.out.append(json_quoted(name, lower=True))
        elif self.after_close:
            self.out.append(",")
        else:
            self._indent()
        if kind == self.OBJECT:
            self.out.append(": {\n" if name is not None else "{\n")
            self.indent += 1
        elif kind == self.ARRAY:
            self.out.append(": [\n" if name is not None else "[\n")
            self.indent += 1
        else:
            self.out.append(": " if name is not None else " ")
        self.after_close = False

    def close(self, kind: int) -> None:
        """ul_jsonwrt_close()"""
        if self.indent == 1:
            self.out.append("\n}\n")
            self.indent -= 1
            self.after_close = True
            return
        if kind in (self.OBJECT, self.ARRAY):
            self.indent -= 1
            self.out.append("\n")
            self._indent()
            self.out.append("}" if kind == self.OBJECT else "]")
        self.after_close = True

    def value_s(self, name: str, data: str | None) -> None:
        """ul_jsonwrt_value_s(): a string, or null for no or empty data."""
        self.open(name, self.VALUE)
        self.out.append(json_quoted(data) if data else "null")
        self.close(self.VALUE)


@dataclass(eq=False)
class Column:
    """struct libscols_column, with the widths __scols_calculate() sets."""

    name: str
    whint: float = 0.0
    flags: int = 0
    seqnum: int = 0
    width: int = 0
    width_min: int = 0
    width_max: int = 0
    width_avg: int = 0
    extreme_sum: int = 0
    extreme_count: int = 0
    is_extreme: bool = False

    @property
    def right(self) -> bool:
        return bool(self.flags & FL_RIGHT)

    @property
    def trunc(self) -> bool:
        return bool(self.flags & FL_TRUNC)

    @property
    def hidden(self) -> bool:
        return bool(self.flags & FL_HIDDEN)


@dataclass(eq=False)
class Table:
    """struct libscols_table: columns, lines of cells, and how to print them."""

    columns: list[Column] = field(default_factory=list)
    lines: list[list[str | None]] = field(default_factory=list)
    name: str | None = None
    fmt: int = HUMAN
    noheadings: bool = False
    shellvar: bool = False
    colsep: str = " "
    linesep: str = "\n"
    #: whether LC_CTYPE is UTF-8 (how bytes above 0x7f are shown)
    utf8: bool = False

    def new_column(self, name: str, whint: float = 0.0, flags: int = 0) -> Column:
        col = Column(name, whint, flags, seqnum=len(self.columns))
        self.columns.append(col)
        return col

    def new_line(self) -> list[str | None]:
        line: list[str | None] = [None] * len(self.columns)
        self.lines.append(line)
        return line

    # --- names ---------------------------------------------------------------
    def _name(self, col: Column) -> str:
        return shellvar(col.name) if self.shellvar else col.name

    def _is_last(self, col: Column) -> bool:
        """is_last_column(): the last, or followed only by hidden columns."""
        i = self.columns.index(col)
        return all(c.hidden for c in self.columns[i + 1:])

    # --- printing --------------------------------------------------------------
    def render(self, is_term: bool = False, termwidth: int = 80) -> bytes:
        """scols_print_table(): the whole output, as bytes.  ``is_term``:
        stdout is a terminal ``termwidth`` cells wide (HUMAN output only)."""
        out: list[str] = []
        if not self.lines:
            if self.fmt == JSON:  # an empty array under the table's name
                j = JsonWriter(out)
                j.open(None, j.OBJECT)
                j.open(self.name or "", j.ARRAY)
                j.close(j.ARRAY)
                j.close(j.OBJECT)
            return _bytes(out)
        if self.fmt == HUMAN:
            self._calculate(is_term, termwidth)
        json = JsonWriter(out) if self.fmt == JSON else None
        if json is not None:
            json.open(None, json.OBJECT)
            json.open(self.name or "", json.ARRAY)
        if not (self.noheadings or self.fmt in (EXPORT, JSON)):
            for col in self._visible():
                self._print_data(out, col, self._name(col))
            out.append(self.linesep)
        for n, line in enumerate(self.lines):
            if json is not None:
                json.open(None, json.OBJECT)
            for col in self._visible():
                data = line[col.seqnum]
                if json is not None:
                    json.value_s(self._name(col), data)
                else:
                    self._print_data(out, col, data or "")
            if json is not None:
                json.close(json.OBJECT)
            elif n < len(self.lines) - 1:
                out.append(self.linesep)
        if json is not None:
            json.close(json.ARRAY)
            json.close(json.OBJECT)
        else:
            out.append("\n")
        return _bytes(out)

    def _visible(self) -> list[Column]:
        return [c for c in self.columns if not c.hidden]

    def _print_data(self, out: list[str], col: Column, data: str) -> None:
        """print_data(): one cell (or header) in the table's format."""
        is_last = self._is_last(col)
        if self.fmt == RAW:
            out.append(fputs_nonblank(data))
        elif self.fmt == EXPORT:
            out.append(f"{self._name(col)}={fputs_quoted(data)}")
        if self.fmt in (RAW, EXPORT):
            if not is_last:
                out.append(self.colsep)
            return
        data, length = safe_encode(data, self.utf8)
        width = col.width
        if is_last and length < width and not col.right:
            width = length
        if length > width and col.trunc:
            data, length = truncate(data, width)
        if data:
            if col.right:
                out.append(" " * (width - length))
                length = width
            out.append(data)
        if is_last:
            return
        out.append(" " * max(width - length, 0))
        if length > width and not col.trunc:
            self._newline_padding(out, col)
        else:
            out.append(self.colsep)

    def _newline_padding(self, out: list[str], col: Column) -> None:
        """print_newline_padding(): a cell wider than its column pushes the
        next column to a new line, indented by empty cells."""
        out.append(self.linesep)
        for c in self.columns[:col.seqnum + 1]:
            if self._is_last(c):
                continue
            out.append(" " * c.width)
            out.append(self.colsep)

    # --- widths ----------------------------------------------------------------
    def _cell_width(self, data: str | None) -> int:
        return safe_encode(data, self.utf8)[1] if data else 0

    def _count_column_width(self, col: Column) -> None:
        """count_column_width(): the widest cell or the header; a second
        call (extreme columns) ignores cells over twice the average."""
        col.width = 0
        if not col.width_min:
            col.width_min = max(self._cell_width(col.name), 1)
        for line in self.lines:
            length = self._cell_width(line[col.seqnum])
            col.width_max = max(length, col.width_max)
            if col.is_extreme and col.width_avg and length > col.width_avg * 2:
                continue
            if col.flags & FL_NOEXTREMES:
                col.extreme_sum += length
                col.extreme_count += 1
            col.width = max(length, col.width)
        if col.extreme_count and col.width_avg == 0:
            col.width_avg = col.extreme_sum // col.extreme_count
            if col.width_avg and col.width_max > col.width_avg * 2:
                col.is_extreme = True
        if col.width < col.width_min:
            col.width = col.width_min
        elif col.whint >= 1 and col.width < int(col.whint) and col.width_min < int(col.whint):
            col.width = int(col.whint)

    def _calculate(self, is_term: bool, termwidth: int) -> None:
        """__scols_calculate(): column widths, fitted to the terminal."""
        width = 0
        extremes = 0
        cols = self._visible()
        for col in cols:
            self._count_column_width(col)
            width += col.width + (0 if self._is_last(col) else len(self.colsep))
            extremes += col.is_extreme
        if not is_term:
            return
        if width > termwidth and extremes:  # reduce columns with extreme fields
            for col in cols:
                if not col.is_extreme:
                    continue
                org = col.width
                self._count_column_width(col)
                if org > col.width:
                    width -= org - col.width
                else:
                    extremes -= 1
        if width < termwidth:
            if extremes:  # enlarge the first extreme column(s)
                for col in cols:
                    if not col.is_extreme:
                        continue
                    add = termwidth - width
                    if add and col.width + add > col.width_max:
                        add = col.width_max - col.width
                    col.width += add
                    width += add
                    if width == termwidth:
                        break
            if width < termwidth and not self.columns[-1].right:  # enlarge the last column
                self.columns[-1].width += termwidth - width
                width = termwidth
        width = self._reduce(cols, width, termwidth)

    def _reduce(self, cols: list[Column], width: int, termwidth: int) -> int:
        """The three stages that narrow a table wider than the terminal."""
        stage = 1
        while width > termwidth and stage <= 3:
            org = width
            for col in cols:
                if col.hidden:
                    continue
                if width <= termwidth:
                    break
                if col.width == col.width_min or col.width == 0:
                    continue
                relative = 0 < col.whint < 1
                if stage == 1 and not (col.trunc and relative
                                       and col.width >= int(col.whint * termwidth)):
                    continue
                if stage == 2 and not col.trunc:
                    continue
                if stage == 3 and not relative:
                    continue
                col.width -= 1
                width -= 1
                if col.width == 0:
                    col.flags |= FL_HIDDEN
            if org == width:
                stage += 1
        return width


def _bytes(out: list[str]) -> bytes:
    return "".join(out).encode("utf-8", "surrogateescape")


def terminal(fd: int = 1) -> tuple[bool, int]:
    """isatty(stdout) and get_terminal_dimension()'s width (TIOCGWINSZ,
    else $COLUMNS, else 80)."""
    is_term = os.isatty(fd)
    cols = 0
    try:
        cols = os.get_terminal_size(fd).columns
    except OSError:
        pass
    if cols <= 0:
        try:
            cols = int(os.environ.get("COLUMNS", ""))
        except ValueError:
            cols = 0
    return is_term, cols if cols > 0 else 80


def write(out: BinaryIO, table: Table) -> None:
    """Print ``table`` to ``out`` as scols_print_table() does to stdout."""
    is_term, width = terminal(out.fileno()) if hasattr(out, "fileno") else (False, 80)
    out.write(table.render(is_term, width))
    out.flush()
