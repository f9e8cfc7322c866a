"""glibc's getopt_long(3) (posix/getopt.c), as util-linux's tools call it.

One parser for every tool here, so that their option errors are glibc's to
the byte: argument permutation (unless POSIXLY_CORRECT is set or the
optstring starts with '+'), "--", clusters of short options, optional
arguments ("a::"), long options abbreviated to a prefix that is unambiguous
by glibc's rule (two prefixes that differ in has_arg or val), and glibc's
messages with the program name as argv[0].

It parses the whole command line at once and stops at the first error,
giving the options in order; a tool acting on each in turn does what its
C loop does, which calls getopt_long once per option.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

NO_ARGUMENT, REQUIRED_ARGUMENT, OPTIONAL_ARGUMENT = 0, 1, 2
#: the value an option error gives (getopt's '?'); its argument is the message
ERROR = "?"


@dataclass(frozen=True)
class LongOption:
    """One entry of getopt_long's ``struct option`` table."""

    name: str
    has_arg: int
    val: str


@dataclass
class Parsed:
    """getopt_long's results in order: ``(val, optarg)`` pairs -- the last
    may be ``(ERROR, message)``, after which the tools exit -- and the
    arguments left over (argv[optind:] after glibc's permutation)."""

    options: list[tuple[str, str | None]] = field(default_factory=list)
    operands: list[str] = field(default_factory=list)

    def last(self, val: str) -> str | None:
        """The argument of the last ``val`` option before any error."""
        found = None
        for v, arg in self.options:
            if v == ERROR:
                break
            if v == val:
                found = arg
        return found


def _short_table(optstring: str) -> dict[str, int]:
    """"q:a::v" -> {"q": REQUIRED_ARGUMENT, "a": OPTIONAL_ARGUMENT, "v": NO_ARGUMENT};
    a letter listed twice is its first entry, as strchr() finds it."""
    table: dict[str, int] = {}
    spec, i = optstring.lstrip("+-:"), 0
    while i < len(spec):
        c, colons = spec[i], len(spec[i + 1:]) - len(spec[i + 1:].lstrip(":"))
        table.setdefault(c, min(colons, 2))
        i += 1 + colons
    return table


def getopt_long(prog: str, args: list[str], optstring: str,
                longopts: tuple[LongOption, ...]) -> Parsed:
    """glibc's getopt_long over ``args`` (argv[1:]), posix/getopt.c.

    Options are taken wherever they are (non-options are moved to the end,
    unless POSIXLY_CORRECT is set or ``optstring`` starts with '+'); "--"
    ends them.  Parsing stops at the first error, whose message is glibc's
    (with ``prog`` as argv[0]), since every tool exits there.
    """
    short = _short_table(optstring)
    in_order = optstring.startswith("+") or "POSIXLY_CORRECT" in os.environ
    parsed, i = Parsed(), 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            parsed.operands += args[i:]
            break
        if arg.startswith("--"):
            i = _long_option(prog, arg[2:], args, i, longopts, parsed)
        elif arg.startswith("-") and arg != "-":
            i = _short_options(prog, arg, args, i, short, parsed)
        else:
            parsed.operands.append(arg)
            if in_order:
                parsed.operands += args[i:]
                break
        if parsed.options and parsed.options[-1][0] == ERROR:
            break
    return parsed


def _long_option(prog: str, body: str, args: list[str], i: int,
                 longopts: tuple[LongOption, ...], parsed: Parsed) -> int:
    """One "--name[=value]": exact names first, then unambiguous prefixes
    (posix/getopt.c process_long_option)."""
    name, eq, value = body.partition("=")
    found = [o for o in longopts if o.name == name]
    if not found:
        found = [o for o in longopts if o.name.startswith(name)]
        if found:
            # ambiguous: another prefix that is not the first one's alias
            first = found[0]
            ambiguous = [o for o in found if (o.has_arg, o.val) != (first.has_arg, first.val)]
            if ambiguous:
                names = "".join(f" '--{o.name}'" for o in [first] + ambiguous)
                parsed.options.append((ERROR, f"{prog}: option '--{body}' is ambiguous; "
                                              f"possibilities:{names}"))
                return i
    if not found:
        parsed.options.append((ERROR, f"{prog}: unrecognized option '--{body}'"))
        return i
    opt = found[0]
    if opt.has_arg == NO_ARGUMENT:
        if eq:
            parsed.options.append((ERROR, f"{prog}: option '--{opt.name}' doesn't allow an "
                                          "argument"))
            return i
        parsed.options.append((opt.val, None))
    elif eq:
        parsed.options.append((opt.val, value))
    elif opt.has_arg == OPTIONAL_ARGUMENT:
        parsed.options.append((opt.val, None))
    elif i < len(args):
        parsed.options.append((opt.val, args[i]))
        i += 1
    else:
        parsed.options.append((ERROR, f"{prog}: option '--{opt.name}' requires an argument"))
    return i


def _short_options(prog: str, arg: str, args: list[str], i: int, short: dict[str, int],
                   parsed: Parsed) -> int:
    """One "-abc" cluster: a letter taking an argument takes the rest of the
    word (or, if it is required, the next word)."""
    for j, c in enumerate(arg[1:], start=2):
        has_arg = short.get(c)
        if has_arg is None or c in ":;":
            parsed.options.append((ERROR, f"{prog}: invalid option -- '{c}'"))
            return i
        if has_arg == NO_ARGUMENT:
            parsed.options.append((c, None))
            continue
        rest = arg[j:]
        if rest or has_arg == OPTIONAL_ARGUMENT:
            parsed.options.append((c, rest or None))
        elif i < len(args):
            parsed.options.append((c, args[i]))
            i += 1
        else:
            parsed.options.append((ERROR, f"{prog}: option requires an argument -- '{c}'"))
        return i
    return i
