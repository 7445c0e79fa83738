"""Parse Green Button (NAESB ESPI) XML into :mod:`carbonledger.greenbutton.model` values.

The XML is read only through :mod:`defusedxml` with DTDs forbidden, so entity
expansion ("billion laughs") and external entities (XXE) are refused before
anything is expanded; the size cap is checked before parsing.  Any problem
raises :class:`~carbonledger.errors.InvalidInput` and nothing partial is
returned.

Three shapes are accepted: an Atom feed whose entries each carry one ESPI
resource, "containerized" feeds whose entry content holds several resources
(all IntervalBlocks of a meter reading in one entry), and a bare ESPI resource
as the root element.  Resources are linked the ESPI way, by the entries' Atom
``self``/``up``/``related`` hrefs; where a file leaves a link out and only one
candidate exists, that candidate is used and a note says so.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as DefusedET

from carbonledger.errors import InvalidInput
from carbonledger.greenbutton.model import GreenButtonDocument
from carbonledger.greenbutton.resources import (
    ATOM,
    ATOM_NS,
    ESPI,
    ESPI_NS,
    Builder,
    Raw,
    norm_href,
    split_tag,
)

__all__ = ["ATOM_NS", "DEFAULT_MAX_BYTES", "ESPI_NS", "parse_bytes", "parse_file"]

#: Files larger than this are refused before parsing (200 MB).
DEFAULT_MAX_BYTES = 200 * 1024 * 1024

_READING = ESPI + "IntervalReading"
_RESOURCES = frozenset(
    {
        "UsagePoint",
        "MeterReading",
        "ReadingType",
        "IntervalBlock",
        "UsageSummary",
        "ElectricPowerUsageSummary",
        "LocalTimeParameters",
    }
)


def parse_file(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> GreenButtonDocument:
    """Parse a Green Button XML file; refuse it unread when over ``max_bytes``.

    The file is read as a stream: each interval reading is taken into compact
    columns as soon as it is parsed and its element dropped, so memory grows by
    about 32 bytes a reading, not with the XML.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise InvalidInput(f"{p}: {size:,} bytes is over the limit of {max_bytes:,} bytes")
        with p.open("rb") as fh:
            return _parse(_Hashing(fh, max_bytes, str(p)), str(p))
    except OSError as exc:
        raise InvalidInput(f"{p}: cannot read: {exc.strerror or exc}") from exc


def parse_bytes(
    data: bytes, *, source: str = "<bytes>", max_bytes: int = DEFAULT_MAX_BYTES
) -> GreenButtonDocument:
    """Parse Green Button XML held in memory; ``source`` names it in messages."""
    if len(data) > max_bytes:
        raise InvalidInput(
            f"{source}: {len(data):,} bytes is over the limit of {max_bytes:,} bytes"
        )
    return _parse(_Hashing(io.BytesIO(data), max_bytes, source), source)


class _Hashing:
    """A binary stream read once, hashed as it goes and refused past ``max_bytes``."""

    def __init__(self, fh: BinaryIO, max_bytes: int, source: str) -> None:
        self._fh, self._max, self._source = fh, max_bytes, source
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        chunk = self._fh.read(n if n > 0 else 1 << 16)
        self.size += len(chunk)
        if self.size > self._max:  # the file grew after it was measured
            raise InvalidInput(f"{self._source}: over the limit of {self._max:,} bytes")
        self.sha256.update(chunk)
        return chunk


def _parse(stream: _Hashing, source: str) -> GreenButtonDocument:
    builder = Builder(source, [])
    root = _load(stream, source, builder)
    builder.raws = list(_resources(root, source))
    doc = builder.build()
    return replace(doc, sha256=stream.sha256.hexdigest())


def _load(stream: _Hashing, source: str, builder: Builder) -> Element:
    """The document's tree without its interval readings, which go to ``builder.columns``.

    Parsed incrementally (defusedxml's ``iterparse``, DTDs forbidden, so entity
    expansion and external entities are refused before anything is expanded).
    """
    stack: list[Element] = []
    root: Element | None = None
    try:
        for event, elem in DefusedET.iterparse(stream, events=("start", "end"), forbid_dtd=True):
            if event == "start":
                stack.append(elem)
                continue
            stack.pop()
            root = elem
            if elem.tag == _READING and stack:
                builder.take_reading(elem, stack)
                del stack[-1][-1]  # the element just ended is its parent's last child
    except defusedxml.DefusedXmlException as exc:
        raise InvalidInput(
            f"{source}: XML entities/DTD are not allowed ({type(exc).__name__})"
        ) from exc
    except ParseError as exc:
        line, column = exc.position
        reason = str(exc).split(":", 1)[0]
        raise InvalidInput(
            f"{source}: malformed XML at line {line}, column {column}: {reason}"
        ) from exc
    if root is None:
        raise InvalidInput(f"{source}: malformed XML at line 1, column 0: no element found")
    return root


def _resources(root: Element, source: str) -> Iterator[Raw]:
    ns, name = split_tag(root.tag)
    if ns == ATOM_NS and name == "feed":
        for entry in root.iter(ATOM + "entry"):
            yield from _entry(entry)
    elif ns == ATOM_NS and name == "entry":
        yield from _entry(root)
    elif ns == ESPI_NS and name in _RESOURCES:
        yield Raw(name, root)
    elif ns == ESPI_NS:
        yield from _espi_children(root, Raw(name, root))
    else:
        shown = f"{{{ns}}}{name}" if ns else name
        raise InvalidInput(
            f"{source}: not a Green Button (ESPI) file: the root element is <{shown}>,"
            " expected an Atom feed or an ESPI resource"
        )


def _entry(entry: Element) -> Iterator[Raw]:
    self_href = up_href = None
    related: set[str] = set()
    for link in entry.findall(ATOM + "link"):
        rel, href = link.get("rel"), norm_href(link.get("href"))
        if href is None:
            continue
        if rel == "self":
            self_href = href
        elif rel == "up":
            up_href = href
        elif rel == "related":
            related.add(href)
    title_el = entry.find(ATOM + "title")
    title = (title_el.text or "").strip() or None if title_el is not None else None
    content = entry.find(ATOM + "content")
    if content is None:
        return
    template = Raw("", content, self_href, up_href, frozenset(related), title)
    yield from _espi_children(content, template)


def _espi_children(parent: Element, template: Raw) -> Iterator[Raw]:
    for child in parent:
        ns, name = split_tag(child.tag) if isinstance(child.tag, str) else ("", "")
        if ns == ESPI_NS and name in _RESOURCES:
            yield Raw(
                name, child, template.self_href, template.up_href, template.related, template.title
            )
