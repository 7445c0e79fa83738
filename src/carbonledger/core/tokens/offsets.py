"""The offset project directory: parse an edition, search it, prove a project is in it.

The directory is the Berkeley Carbon Trading Project's voluntary registry
offsets database as published in ``open-offsets-directory/data/projects.csv``
(ACR, CAR, Gold Standard and Verra VCS projects). An edition is identified by
the SHA-256 of its file; its projects, in file order, are the leaves of an
RFC 6962 Merkle tree whose root the network admin registers on the ledger, so an
offset token proves its project is in the directory with a short path.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from carbonledger.core.item_parts import DirectoryProject, ProjectProof
from carbonledger.core.merkle import inclusion_proof, leaf_hash, node_hash, root_from_leaf_hashes
from carbonledger.core.tokens.directory import project_leaf
from carbonledger.errors import InvalidInput, NotFound

__all__ = ["OffsetDirectory", "OffsetProject", "parse_directory"]

_REQUIRED = ("Project ID", "Project Name", "Voluntary Registry", "Country")
_ISSUED = "Issued by Reporting "


def _int(value: str | None) -> int:
    text = (value or "").strip().replace(",", "")
    if not text:
        return 0
    try:
        return int(text)
    except ValueError:
        try:
            return int(float(text))  # a few rows carry "1.0"-style figures
        except ValueError:
            return 0


@dataclass(frozen=True, slots=True)
class OffsetProject:
    """One project of the directory (credits in t CO2e, as the registries count them)."""

    id: str
    name: str
    registry: str
    status: str
    scope: str
    type: str
    methodology: str
    region: str
    country: str
    state: str
    developer: str
    issued: int
    retired: int
    remaining: int
    first_year: int | None
    #: t CO2e issued per vintage (reporting year), only the non-zero ones.
    vintages: dict[int, int] = field(default_factory=dict)

    def summary(self) -> DirectoryProject:
        """What an offset token carries of its project (and the directory leaf commits to)."""
        return {
            "id": self.id,
            "name": self.name,
            "registry": self.registry,
            "status": self.status,
            "type": self.type,
            "country": self.country,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "scope": self.scope,
            "methodology": self.methodology,
            "region": self.region,
            "state": self.state,
            "developer": self.developer,
            "issued": self.issued,
            "retired": self.retired,
            "remaining": self.remaining,
            "first_year": self.first_year,
            "vintages": {str(k): v for k, v in sorted(self.vintages.items())},
        }


def _project(row: dict[str, str], line: int) -> OffsetProject:
    def get(name: str) -> str:
        return (row.get(name) or "").strip()

    pid = get("Project ID")
    if not pid:
        raise InvalidInput(f"offsets directory line {line}: Project ID is empty")
    vintages = {}
    for key, value in row.items():
        if key and key.startswith(_ISSUED) and key[len(_ISSUED) :].strip().isdigit():
            n = _int(value)
            if n:
                vintages[int(key[len(_ISSUED) :])] = n
    first = _int(get("First Year of Project")) or None
    return OffsetProject(
        id=pid,
        name=get("Project Name"),
        registry=get("Voluntary Registry"),
        status=get("Voluntary Status"),
        scope=get("Scope"),
        type=(row.get(" Type") or row.get("Type") or "").strip(),
        methodology=get("Methodology / Protocol"),
        region=get("Region"),
        country=get("Country"),
        state=get("State"),
        developer=get("Project Developer"),
        issued=_int(get("Total Credits Issued")),
        retired=_int(get("Total Credits Retired")),
        remaining=_int(get("Total Credits Remaining")),
        first_year=first,
        vintages=vintages,
    )


def parse_directory(data: bytes, *, source: str) -> OffsetDirectory:
    """Parse an edition of ``projects.csv``; refuses duplicate project ids, missing columns."""
    text = data.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in _REQUIRED if c not in (reader.fieldnames or ())]
    if missing:
        raise InvalidInput(f"{source}: not an offsets directory (missing columns {missing})")
    projects: list[OffsetProject] = []
    seen: set[str] = set()
    for line, row in enumerate(reader, start=2):
        project = _project(row, line)
        if project.id in seen:
            raise InvalidInput(f"{source} line {line}: project {project.id} is listed twice")
        seen.add(project.id)
        projects.append(project)
    if not projects:
        raise InvalidInput(f"{source}: the directory lists no projects")
    return OffsetDirectory(tuple(projects), hashlib.sha256(data).hexdigest(), source)


class OffsetDirectory:
    """An edition of the directory: lookup, search and Merkle proofs of its projects."""

    def __init__(self, projects: tuple[OffsetProject, ...], sha256: str, source: str) -> None:
        self.projects = projects
        self.sha256 = sha256
        self.source = source
        self._index = {p.id: n for n, p in enumerate(projects)}
        self._leaves = [leaf_hash(project_leaf(p.summary())) for p in projects]
        self._levels: list[list[bytes]] = [self._leaves]

    @property
    def id(self) -> str:
        """Ledger id of this edition: ``offsets-`` and the first 16 hex digits of its SHA-256."""
        return f"offsets-{self.sha256[:16]}"

    @property
    def root(self) -> str:
        return root_from_leaf_hashes(self._leaves).hex()

    def get(self, project_id: str) -> OffsetProject:
        n = self._index.get(project_id)
        if n is None:
            raise NotFound(
                f"project {project_id!r} is not in the offsets directory ({self.source})"
            )
        return self.projects[n]

    def proof(self, project_id: str) -> ProjectProof:
        """``{index, path}``: the project's inclusion proof against :attr:`root`."""
        self.get(project_id)
        index = self._index[project_id]
        path = inclusion_proof(index, len(self._leaves), self._node)
        return {"index": index, "path": [h.hex() for h in path]}

    def _node(self, level: int, idx: int) -> bytes:
        levels = self._levels
        while len(levels) <= level:
            below = levels[-1]
            levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
        return levels[level][idx]

    def search(
        self,
        *,
        registry: str | None = None,
        type: str | None = None,
        country: str | None = None,
        vintage: int | None = None,
        text: str | None = None,
    ) -> list[OffsetProject]:
        """Projects matching every given filter (case-insensitive; type and text by substring).

        ``vintage`` keeps projects with credits issued for that reporting year.
        """
        return list(
            _filter(
                self.projects,
                registry=registry,
                ptype=type,
                country=country,
                vintage=vintage,
                text=text,
            )
        )

    def registries(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.projects:
            out[p.registry] = out.get(p.registry, 0) + 1
        return out

    def ledger_item(self) -> dict[str, Any]:
        return {
            "kind": "offset_directory",
            "id": self.id,
            "sha256": self.sha256,
            "root": self.root,
            "projects": len(self.projects),
            "source": self.source,
        }


def _filter(
    projects: Iterable[OffsetProject],
    *,
    registry: str | None,
    ptype: str | None,
    country: str | None,
    vintage: int | None,
    text: str | None,
) -> Iterable[OffsetProject]:
    reg = registry.casefold() if registry else None
    typ = ptype.casefold() if ptype else None
    ctry = country.casefold() if country else None
    txt = text.casefold() if text else None
    for p in projects:
        if reg is not None and p.registry.casefold() != reg:
            continue
        if typ is not None and typ not in p.type.casefold():
            continue
        if ctry is not None and p.country.casefold() != ctry:
            continue
        if vintage is not None and not p.vintages.get(vintage):
            continue
        if txt is not None and txt not in p.name.casefold() and txt not in p.id.casefold():
            continue
        yield p
