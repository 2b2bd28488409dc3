"""The one exception type that means "the user got something wrong", and the one way to read a user's file.

The CLI prints a ``UserError`` as a single line and exits with status 2; anything
else is a bug and keeps its traceback.

Every file a user names (a scenario, a sweep, a JSON-lines file of messages) is read here, as bytes
first: a missing, unreadable, oversized, binary or non-UTF-8 file is one ``UserError`` line naming the
file, never a ``UnicodeDecodeError`` from deep inside a parser. YAML goes through :func:`load_user_yaml`,
which also refuses empty files, duplicate keys and alias bombs before anything is built from them.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_LINE_BYTES",
    "MAX_YAML_BYTES",
    "MAX_YAML_NODES",
    "UserError",
    "iter_user_lines",
    "load_user_yaml",
    "one_line",
    "parse_user_yaml",
    "read_user_bytes",
    "read_user_text",
    "short_repr",
]

#: A scenario or sweep file is a page of YAML; a megabyte is already absurd.
MAX_YAML_BYTES = 1 << 20
#: Nodes of a YAML document once every alias is expanded (a real scenario has a few hundred).
MAX_YAML_NODES = 100_000
#: One line of a JSON-lines file (one message).
MAX_LINE_BYTES = 1 << 20
#: The longest error line the CLI prints (a message quoting user input is cut here).
MAX_MESSAGE_CHARS = 400


class UserError(Exception):
    """A mistake in user input (config field, CLI flag, file). The message is one line naming it."""


def one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` on one line (control characters escaped) and at most ``limit`` characters."""
    flat = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 4
_REPR.maxlevel = 2


def short_repr(value: Any) -> str:
    """A bounded ``repr`` for messages: never walks more than a few elements of a huge input."""
    return _REPR.repr(value)


def read_user_bytes(path: str | Path, *, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of a file the user named; missing, unreadable, a folder or over ``max_bytes``: ``UserError``."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not a {what}") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise UserError(f"{path}: larger than {max_bytes:,} bytes: not a {what} mesaverse reads")
    return data


def _decode(data: bytes, where: str) -> str:
    nul = data.find(b"\x00")
    if nul >= 0:
        raise UserError(f"{where}: binary data (a NUL byte at offset {nul}), not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{where}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    return text.removeprefix("\ufeff")


def read_user_text(path: str | Path, *, max_bytes: int = MAX_YAML_BYTES, what: str = "file") -> str:
    """A user's file as UTF-8 text (a BOM is dropped); binary or other encodings are a ``UserError``."""
    return _decode(read_user_bytes(path, max_bytes=max_bytes, what=what), str(path))


def iter_user_lines(path: str | Path, *, max_line: int = MAX_LINE_BYTES) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of a user's text file, streamed; a bad line is a ``UserError`` naming it."""
    path = Path(path)
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not a file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with fh:
        lineno = 0
        while True:
            try:
                raw = fh.readline(max_line + 1)
            except OSError as exc:
                raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
            if not raw:
                return
            lineno += 1
            if len(raw) > max_line:
                raise UserError(f"{path}: line {lineno}: longer than {max_line:,} bytes")
            text = _decode(raw, f"{path}: line {lineno}")
            yield lineno, text.removeprefix("\ufeff") if lineno == 1 else text


# -- YAML --------------------------------------------------------------------------------------------


def _yaml_loader() -> type:
    import yaml

    class Loader(yaml.SafeLoader):
        """SafeLoader that refuses duplicate keys (the last one would win silently)."""

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            if isinstance(node, yaml.MappingNode):
                seen: set[Any] = set()
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue  # ``<<: *defaults`` merges; its keys may be overridden on purpose
                    key = self.construct_object(key_node, deep=True)
                    try:
                        duplicate = key in seen
                    except TypeError:
                        continue  # an unhashable key: the base class names it
                    if duplicate:
                        mark = key_node.start_mark
                        raise _YamlProblem(
                            f"line {mark.line + 1}, column {mark.column + 1}: duplicate key {short_repr(key)}"
                        )
                    seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return Loader


class _YamlProblem(Exception):
    pass


def _expanded_size(root: Any, limit: int) -> int:
    """Nodes of the document with every alias expanded, counted without expanding it (memoised per node).

    A "billion laughs" file is a few hundred bytes whose aliases expand to billions of nodes: anything
    that walks the result (validation, an error message quoting it) would take minutes and gigabytes.
    """
    import yaml

    sizes: dict[int, int] = {}
    on_path: set[int] = set()

    def size(node: Any) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in on_path:
            raise _YamlProblem("an alias refers to the node that contains it (recursive YAML)")
        if isinstance(node, yaml.ScalarNode):
            return 1
        on_path.add(key)
        children = node.value if isinstance(node, yaml.SequenceNode) else [n for kv in node.value for n in kv]
        total = 1
        for child in children:
            total += size(child)
            if total > limit:
                break
        on_path.discard(key)
        sizes[key] = total
        return total

    return size(root)


def load_user_yaml(path: str | Path, *, what: str = "file") -> Any:
    """The one YAML document of a user's file, or a one-line ``UserError`` naming the file (and line).

    Refused: unreadable, binary, non-UTF-8 or oversized files, empty files (or only comments), syntax
    errors, several documents, duplicate keys, recursive aliases, and aliases that expand beyond
    :data:`MAX_YAML_NODES` nodes.
    """
    return parse_user_yaml(read_user_text(path, what=what), str(path), what=what)


def parse_user_yaml(text: str, where: str, *, what: str = "file", allow_empty: bool = False) -> Any:
    """YAML text from the user (a file's content, a ``--set`` value) with :func:`load_user_yaml`'s checks."""
    import yaml

    loader = _yaml_loader()(text)
    try:
        root = loader.get_single_node()
        if root is None:
            if allow_empty:
                return None
            raise UserError(f"{where}: empty {what} (no YAML content)")
        if _expanded_size(root, MAX_YAML_NODES) > MAX_YAML_NODES:
            raise UserError(
                f"{where}: YAML aliases expand to more than {MAX_YAML_NODES:,} nodes (an alias bomb?)"
            )
        return loader.construct_document(root)
    except _YamlProblem as exc:
        raise UserError(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"{where}: {at}YAML syntax error: {problem}") from None
    except RecursionError:
        raise UserError(f"{where}: YAML nested too deeply") from None
    finally:
        loader.dispose()
