"""Reading an experiment file's YAML without trusting it.

One bounded pass over the parser's events builds plain values (dicts, lists, text, numbers)
and the line of every key and list item; nothing is ever expanded or recursed into. Refused,
each in one line naming the file and line: files over ``MAX_BYTES``, text that is not UTF-8,
YAML anchors and aliases (an experiment never needs them, and expanding them is how a small
file becomes gigabytes), tags other than the core ones, more than one document, nesting
deeper than ``MAX_DEPTH``, more than ``MAX_NODES`` values, duplicate keys, numbers written
with more than ``MAX_NUMBER_CHARS`` characters, and control characters in any text.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from lab.errors import ExperimentError  # noqa: F401  (raised here; callers name it from here)

MAX_BYTES = 256 * 1024
MAX_DEPTH = 20
MAX_NODES = 10_000
MAX_NUMBER_CHARS = 32

# libyaml reads a capped file in tens of milliseconds; the pure-Python parser is ~30x slower,
# and MAX_NODES keeps even it near 0.3 s (every --dry answers within a second).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null")}
# Never in any text: C0 controls but tab and newline, DEL, C1 controls, lone surrogates,
# Unicode noncharacters, and the bidirectional overrides and isolates (text that displays
# other than it reads).
_FORBIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\u202a-\u202e\u2066-\u2069"
    + "".join(f"{chr(p * 0x10000 + 0xfffe)}{chr(p * 0x10000 + 0xffff)}" for p in range(17))
    + "]")


@dataclass(frozen=True)
class Document:
    """A file's plain value and the 1-based line of each key and list item, by path:
    ``("faults", 0, "step")``; ``()`` is the line where the value starts."""

    value: object
    lines: dict[tuple, int]


def field_name(path: tuple) -> str:
    """How a message names the value at ``path``: ``field 'seed'``, ``faults[1].at_s``."""
    if not path:
        return "the file"
    if len(path) == 1:
        return f"field {_short(path[0])!r}"
    name = path[0] if isinstance(path[0], str) else repr(path[0])
    for part in path[1:]:
        name += f"[{part}]" if isinstance(part, int) else f".{_short(part)}"
    return _short(name, 80)


def _short(value, limit: int = 40):
    return value[:limit] + "..." if isinstance(value, str) and len(value) > limit else value


def forbidden_char(text: str) -> str | None:
    """The first character no experiment text may hold, or None."""
    found = _FORBIDDEN.search(text)
    return found.group() if found else None


def read(path: Path) -> Document:
    """The file's value; refuses (ExperimentError) anything over the caps above."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except (OSError, ValueError) as e:   # ValueError: a NUL in the path
        raise ExperimentError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") \
            from None
    if len(data) > MAX_BYTES:
        raise ExperimentError(f"{path}: larger than {MAX_BYTES // 1024} KiB, the cap on "
                              "experiment files; an experiment needs a few KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ExperimentError(f"{path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x}); "
                              "save the file as UTF-8") from None
    return parse(text.removeprefix("\ufeff"), path)


def parse(text: str, path: Path | str) -> Document:
    builder = _Builder(path)
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            builder.take(event)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ExperimentError(f"{path}{line}: not valid YAML ({e.problem or e.context})") from None
    except yaml.YAMLError as e:   # the reader's refusals carry a position, not a mark
        position = getattr(e, "position", None)
        line = f":{text[:position].count(chr(10)) + 1}" if isinstance(position, int) else ""
        raise ExperimentError(f"{path}{line}: not valid YAML ({getattr(e, 'reason', e)})") \
            from None
    return Document(builder.root, builder.lines)


class _Frame:
    """An open mapping or sequence: its value, its path, and (mappings) the pending key."""

    def __init__(self, value, path: tuple):
        self.value, self.path = value, path
        self.key, self.key_line = _NO_KEY, 0


_NO_KEY = object()


class _Builder:
    def __init__(self, path):
        self.file = path
        self.stack: list[_Frame] = []
        self.lines: dict[tuple, int] = {}
        self.root = None
        self.nodes = self.documents = 0
        self.resolver = Resolver()
        self.constructor = SafeConstructor()

    def refuse(self, line: int, path: tuple, problem: str):
        where = f"{field_name(path)}: " if path else ""
        raise ExperimentError(f"{self.file}:{line}: {where}{problem}")

    def take(self, event) -> None:
        line = event.start_mark.line + 1
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                self.refuse(line, (), "a second YAML document (---); one experiment per file")
        elif isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            self.refuse(line, self._path_here(), "YAML anchors (&name) and aliases (*name) are "
                        "not supported in experiment files; write the value out")
        elif isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
            self.nodes += 1
            if self.nodes > MAX_NODES:
                self.refuse(line, (), f"more than {MAX_NODES} YAML values; an experiment has "
                            "a few hundred")
            if isinstance(event, yaml.ScalarEvent):
                self._place(self._scalar(event, line), line)
            else:
                self._open(event, line)
        elif isinstance(event, yaml.CollectionEndEvent):
            self.stack.pop()

    def _path_here(self) -> tuple:
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.value, list):
            return (*top.path, len(top.value))
        return top.path if top.key is _NO_KEY else (*top.path, top.key)

    def _open(self, event, line: int) -> None:
        is_map = isinstance(event, yaml.MappingStartEvent)
        path = self._path_here()
        if event.tag not in (None, "!", _CORE + ("map" if is_map else "seq")):
            self.refuse(line, path, f"YAML tag {_short(event.tag)!r} is not supported")
        if len(self.stack) >= MAX_DEPTH:
            self.refuse(line, path, f"nested deeper than {MAX_DEPTH} levels; an experiment "
                        "needs three")
        value = {} if is_map else []
        self._place(value, line)
        self.stack.append(_Frame(value, path))

    def _scalar(self, event, line: int):
        path = self._path_here()
        text = event.value
        if (bad := forbidden_char(text)) is not None:
            self.refuse(line, path, f"control or invisible character U+{ord(bad):04X} is not "
                        "allowed in experiment text")
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolver.resolve(yaml.ScalarNode, text, event.implicit)
        elif tag not in _SCALAR_TAGS:
            self.refuse(line, path, f"YAML tag {_short(tag)!r} is not supported")
        if tag in (_CORE + "int", _CORE + "float"):
            if len(text) > MAX_NUMBER_CHARS:
                self.refuse(line, path, f"a number written with {len(text)} characters; at "
                            f"most {MAX_NUMBER_CHARS}")
            construct = self.constructor.construct_yaml_int if tag.endswith("int") else \
                self.constructor.construct_yaml_float
            try:
                return construct(yaml.ScalarNode(tag, text))
            except (ValueError, OverflowError, IndexError):
                self.refuse(line, path, f"{_short(text)!r} is not a number")
        if tag == _CORE + "bool":
            try:
                return self.constructor.construct_yaml_bool(yaml.ScalarNode(tag, text))
            except KeyError:
                self.refuse(line, path, f"{_short(text)!r} is not true or false")
        if tag == _CORE + "null":
            return None
        return text   # str, and the implicit timestamp, merge and value tags: kept as text

    def _place(self, value, line: int) -> None:
        if not self.stack:
            self.root = value
            self.lines[()] = line
            return
        top = self.stack[-1]
        if isinstance(top.value, list):
            self.lines[(*top.path, len(top.value))] = line
            top.value.append(value)
        elif top.key is _NO_KEY:
            if isinstance(value, (dict, list)):
                self.refuse(line, top.path, "a key must be plain text, not a list or mapping")
            key_path = (*top.path, value)
            if value in top.value:
                self.refuse(line, key_path, f"given twice (first at {self.file}:"
                            f"{self.lines[key_path]}); keep one")
            top.key, top.key_line = value, line
            self.lines[key_path] = line
            top.value[value] = None
        else:
            top.value[top.key] = value
            top.key = _NO_KEY
