"""The one YAML reader for scenario files, suite files and ``--set`` values.

PyYAML's ``safe_load`` is safe against code execution but not against careless or hostile files:
a repeated key silently wins, an alias bomb (a few lines whose aliases expand to billions of
values) is expanded by whatever walks the result (pydantic, or ``repr`` in our own error
message), a file nested a few thousand levels deep ends in a ``RecursionError``, and bytes that
are not UTF-8 end in a ``UnicodeDecodeError``. :class:`SafeScenarioLoader` is a
:class:`yaml.SafeLoader` that refuses each of these with PyYAML's own hooks (the composer's
``compose_node``, the constructor's ``construct_mapping``), and :func:`parse_yaml` measures the
composed node graph before anything is built from it. Every error is a one-line
:class:`~iterdeploy.simulator.errors.ScenarioError` naming the file, the line where there is one, and what
to do.
"""

from __future__ import annotations

import reprlib
from pathlib import Path
from typing import Any

import yaml

from iterdeploy.simulator.errors import ScenarioError

MAX_DEPTH = 64
"""Deepest nesting of mappings and lists accepted, aliases followed (a scenario needs about 8)."""

MAX_NODES = 100_000
"""Most values a document may hold once its aliases are expanded (a scenario holds a few
hundred): aliases that share a policy are fine, an alias bomb is refused before it is built."""

_MERGE_TAG = "tag:yaml.org,2002:merge"

_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlist = _short.maxtuple = _short.maxdict = _short.maxset = 6
_short.maxlevel = 3


def short_repr(value: object) -> str:
    """``repr`` cut to a few dozen characters: a value in an error message must not be the whole
    (possibly alias-expanded) input."""
    return _short.repr(value)


class _Refused(yaml.YAMLError):
    """A document PyYAML would read, refused by our bounds; ``line`` is 1-based or None."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class SafeScenarioLoader(yaml.SafeLoader):
    """:class:`yaml.SafeLoader` that refuses duplicate keys and nesting beyond :data:`MAX_DEPTH`.

    The depth is checked while composing, before PyYAML's recursive composer can run out of
    stack; duplicates are found when a mapping is built, comparing keys as Python would (``1``
    and ``true`` are one key), merge keys (``<<``) excepted, since overriding merged values is
    what they are for.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:  # type: ignore[override]
        """Compose one node, refusing to go deeper than :data:`MAX_DEPTH`."""
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                line = self.peek_event().start_mark.line + 1
                raise _Refused(
                    f"nested more than {MAX_DEPTH} levels deep; a scenario needs far fewer, "
                    "so check the brackets and indentation", line)
            return super().compose_node(parent, index)  # type: ignore[no-untyped-call]
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Build a mapping, refusing a key that appears twice in it."""
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            try:
                seen = first_line.get(key)
            except TypeError:  # unhashable: PyYAML's own construct_mapping says so
                continue
            line = key_node.start_mark.line + 1
            if seen is not None:
                raise _Refused(
                    f"duplicate key {short_repr(key)} (first at line {seen}); keep one of them",
                    line)
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-untyped-call,no-any-return]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph whose aliases make it recursive, deeper than :data:`MAX_DEPTH` or
    larger than :data:`MAX_NODES` once expanded.

    The composer shares an aliased node instead of copying it, so the graph is small even for an
    alias bomb; this walks it once, iteratively, with each node's expanded size and depth
    memoised, so measuring a bomb costs what its text costs.

    Raises:
        yaml.YAMLError: (an internal subclass) naming the line of the offending node.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            kids = _children(node)
            size[key] = min(MAX_NODES + 1, 1 + sum(size[id(k)] for k in kids))
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            on_path.discard(key)
            line = node.start_mark.line + 1
            if depth[key] > MAX_DEPTH:
                raise _Refused(f"aliases nest values more than {MAX_DEPTH} levels deep; write "
                               "the values out instead", line)
            if size[key] > MAX_NODES:
                raise _Refused(f"aliases expand the document to more than {MAX_NODES} values "
                               "(an alias bomb?); write the values out or use fewer aliases", line)
            continue
        if key in size:
            continue
        on_path.add(key)
        stack.append((node, True))
        for kid in _children(node):
            if id(kid) in on_path:
                raise _Refused("an alias refers to a mapping or list that contains it; aliases "
                               "must not be recursive", kid.start_mark.line + 1)
            if id(kid) not in size:
                stack.append((kid, False))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _describe(exc: yaml.YAMLError, text: str, source: str) -> str:
    """One line for a YAML error: the file, its line, and PyYAML's own words without the
    multi-line excerpt."""
    if isinstance(exc, _Refused):
        where = f"{source}:{exc.line}" if exc.line else source
        return f"{where}: {exc.message}"
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = exc.problem or "unreadable"
        context = f" ({exc.context})" if exc.context else ""
        return _one_line(f"{where}: not valid YAML: {problem}{context}")
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        return (f"{source}:{line}: not valid YAML: character #x{exc.character:04x} is not allowed "
                "in YAML; remove it or quote it as an escape in a double-quoted string")
    return _one_line(f"{source}: not valid YAML: {exc}")


def parse_yaml(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """The composed node graph (for line numbers) and the data of one YAML document.

    Args:
        text: The document.
        source: What to call it in messages: a file path, or ``--set KEY``.

    Returns:
        ``(node, data)``; ``(None, None)`` for an empty document.

    Raises:
        ScenarioError: One line naming ``source`` and the line: not YAML, a duplicate key,
            nesting beyond :data:`MAX_DEPTH`, aliases beyond :data:`MAX_NODES` or recursive.
    """
    try:
        loader = SafeScenarioLoader(text)  # checks for characters YAML does not allow
        try:
            node = loader.get_single_node()
            if node is None:
                return None, None
            check_expansion(node)
            return node, loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ScenarioError(_describe(exc, text, source)) from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a timestamp like 2024-13-45
        raise ScenarioError(_one_line(f"{source}: not valid YAML: {exc}")) from None


def read_yaml_text(path: str | Path) -> str:
    """The text of a YAML file, which must be UTF-8 (the YAML 1.2 default; a BOM is fine).

    Raises:
        ScenarioError: One line naming the file: missing, unreadable, or not UTF-8 (with the
            first bad byte and its offset).
    """
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(f"{file}: no such file") from None
    except OSError as exc:
        raise ScenarioError(f"{file}: cannot read the file ({exc.strerror or exc})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"{file}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8"
        ) from None


def load_yaml_file(path: str | Path) -> Any:
    """The data of a YAML file read through :class:`SafeScenarioLoader` (None when empty).

    For YAML files other than scenarios (calibration suites): the same refusals, the same
    one-line messages.

    Raises:
        ScenarioError: As :func:`read_yaml_text` and :func:`parse_yaml`.
    """
    return parse_yaml(read_yaml_text(path), str(path))[1]
