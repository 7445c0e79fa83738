"""The factor catalog: package editions plus editions a user loaded, read lazily.

Nothing is read at import or construction time; each edition is parsed the
first time it is asked for and then kept.  User editions live in
``<home>/factors/`` as ``<edition>.factors.csv`` (factor CSV format) and ZIP
lookups as ``<egrid-year>.zip.csv.gz`` (the official content, gzipped).
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from threading import Lock

from carbonledger.core.factor_values import Edition, EmissionFactor, Location, Resolution
from carbonledger.errors import ConfigurationError, FactorNotFound, InvalidInput
from carbonledger.factors.base import make_edition, read_factor_csv, write_factor_csv
from carbonledger.factors.eea import load_eea_csv
from carbonledger.factors.egrid import ZipRow, load_state_json, load_subregion_csv, load_zip_csv
from carbonledger.factors.ember import load_ember_json
from carbonledger.factors.formats import LoadedFile, read_file

__all__ = ["EditionInfo", "FactorCatalog"]

_Loader = Callable[[str, str], Edition]


def _factor_csv(text: str, source: str) -> Edition:
    factors = read_factor_csv(text, source)
    return make_edition(factors, source=factors[0].source if factors else source)


# edition, dataset, data year, revision, package file, loader
_BUILTIN: tuple[tuple[str, str, int, str, str, _Loader], ...] = (
    ("egrid2020", "eGRID", 2020, "", "egrid/subregions_egrid2020.csv", load_subregion_csv),
    ("egrid2021", "eGRID", 2021, "", "egrid/subregions_egrid2021.csv", load_subregion_csv),
    ("egrid2022", "eGRID", 2022, "", "egrid/subregions_egrid2022.csv", load_subregion_csv),
    ("egrid2023r1", "eGRID", 2023, "r1", "egrid/subregions_egrid2023r1.csv", load_subregion_csv),
    ("egrid2023r2", "eGRID", 2023, "r2", "egrid/subregions_egrid2023r2.csv", load_subregion_csv),
    (
        "egrid2023-state",
        "eGRID-state",
        2023,
        "",
        "egrid/states_co2e_egrid2023.json",
        load_state_json,
    ),
    ("eea-co2-intensity-6", "EEA", 2019, "", "eea/co2-emission-intensity-6.csv", load_eea_csv),
    ("ember-2024", "Ember", 2024, "", "world/ember-average-intensities-2024.json", load_ember_json),
    ("defra2020", "DEFRA", 2020, "v1", "uk/defra2020_extract.csv", _factor_csv),
    ("defra2021", "DEFRA", 2021, "v3", "uk/defra2021_extract.csv", _factor_csv),
    ("defra2022", "DEFRA", 2022, "v3", "uk/defra2022_extract.csv", _factor_csv),
    ("defra2023", "DEFRA", 2023, "v1.1", "uk/defra2023_extract.csv", _factor_csv),
    ("defra2024", "DEFRA", 2024, "v1.1", "uk/defra2024_extract.csv", _factor_csv),
    ("defra2025", "DEFRA", 2025, "v1", "uk/defra2025_extract.csv", _factor_csv),
    ("epa-hub-2021", "EPA-Hub", 2021, "", "epa/epa-hub-2021_extract.csv", _factor_csv),
    ("epa-hub-2023", "EPA-Hub", 2023, "", "epa/epa-hub-2023_extract.csv", _factor_csv),
    ("epa-hub-2024", "EPA-Hub", 2024, "", "epa/epa-hub-2024_extract.csv", _factor_csv),
    ("epa-hub-2025", "EPA-Hub", 2025, "", "epa/epa-hub-2025_extract.csv", _factor_csv),
)
_BUILTIN_ZIP = {
    "egrid2022": "egrid/zip_to_subregion_egrid2022.csv.gz",
    "egrid2023": "egrid/zip_to_subregion_egrid2023.csv.gz",
}
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True, slots=True)
class EditionInfo:
    """What is known about an edition without parsing it."""

    edition: str
    dataset: str
    data_year: int
    revision: str
    origin: str


def _package_text(rel: str) -> str:
    raw = resources.files("carbonledger.data").joinpath(rel).read_bytes()
    if rel.endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw.decode("utf-8-sig")


class FactorCatalog:
    """Emission-factor editions (package data plus ``home``'s) and their resolution.

    ``home`` is the carbonledger home directory (``$CARBONLEDGER_HOME``); with
    None only the package editions are available and :meth:`load` refuses.
    """

    def __init__(self, home: Path | None = None) -> None:
        self.home = home
        self._editions: dict[str, Edition] = {}
        self._zips: dict[str, dict[str, tuple[ZipRow, ...]]] = {}
        self._user: dict[str, Edition] | None = None
        self._resolutions: dict[tuple[object, ...], Resolution] = {}
        self._lock = Lock()

    @classmethod
    def from_env(cls) -> FactorCatalog:
        """A catalog whose home is ``$CARBONLEDGER_HOME`` (package data only if unset)."""
        home = os.environ.get("CARBONLEDGER_HOME")
        return cls(Path(home) if home else None)

    # -- editions ---------------------------------------------------------
    @property
    def _dir(self) -> Path | None:
        return None if self.home is None else self.home / "factors"

    def _user_editions(self) -> dict[str, Edition]:
        if self._user is None:
            user: dict[str, Edition] = {}
            folder = self._dir
            if folder is not None and folder.is_dir():
                for path in sorted(folder.glob("*.factors.csv")):
                    factors = read_factor_csv(path.read_text("utf-8"), path.name)
                    user[path.name.removesuffix(".factors.csv")] = make_edition(
                        factors, origin="user", source=factors[0].source
                    )
            self._user = user
        return self._user

    def infos(self, dataset: str | None = None) -> list[EditionInfo]:
        """Editions known, package first then user, optionally of one dataset."""
        out = [EditionInfo(e, d, y, r, "package") for e, d, y, r, _, _ in _BUILTIN]
        out += [
            EditionInfo(name, ed.dataset, ed.data_year, ed.revision, "user")
            for name, ed in self._user_editions().items()
        ]
        return [i for i in out if dataset is None or i.dataset == dataset]

    def edition(self, name: str) -> Edition:
        """Return one edition by name, loading it on first use (may warn DataWarning)."""
        with self._lock:
            found = self._editions.get(name)
            if found is not None:
                return found
            user = self._user_editions()
            if name in user:
                found = user[name]
            else:
                spec = next((b for b in _BUILTIN if b[0] == name), None)
                if spec is None:
                    known = ", ".join(i.edition for i in self.infos())
                    raise FactorNotFound(f"unknown edition {name!r}; known editions: {known}")
                found = spec[5](_package_text(spec[4]), spec[4])
            self._editions[name] = found
            return found

    def editions(self) -> list[Edition]:
        """Every edition, loaded (package then user); warns for contradictory data."""
        return [self.edition(i.edition) for i in self.infos()]

    def factors(self, edition: str) -> tuple[EmissionFactor, ...]:
        """All factors of one edition."""
        return self.edition(edition).factors

    # -- ZIP lookups ------------------------------------------------------
    def zip_keys(self) -> list[str]:
        """eGRID years with a ZIP lookup (``egrid2022`` ...)."""
        keys = set(_BUILTIN_ZIP)
        if self._dir is not None and self._dir.is_dir():
            keys |= {p.name.removesuffix(".zip.csv.gz") for p in self._dir.glob("*.zip.csv.gz")}
        return sorted(keys)

    def zip_lookup(self, key: str) -> dict[str, tuple[ZipRow, ...]]:
        """The ZIP lookup of one eGRID year, loaded on first use."""
        with self._lock:
            table = self._zips.get(key)
            if table is None:
                user = None if self._dir is None else self._dir / f"{key}.zip.csv.gz"
                if user is not None and user.is_file():
                    table = load_zip_csv(gzip.decompress(user.read_bytes()).decode(), user.name)
                elif key in _BUILTIN_ZIP:
                    table = load_zip_csv(_package_text(_BUILTIN_ZIP[key]), _BUILTIN_ZIP[key])
                else:
                    raise FactorNotFound(f"no ZIP lookup {key!r}; known: {self.zip_keys()}")
                self._zips[key] = table
            return table

    # -- loading user files -----------------------------------------------
    def load(self, path: Path, *, edition: str | None = None) -> LoadedFile:
        """Load an official file into ``home/factors`` and make it available.

        Raises InvalidInput for an unrecognised or malformed file (naming file,
        row and column) or a name that clashes with a package edition.
        """
        folder = self._dir
        if folder is None:
            raise ConfigurationError("no carbonledger home: set CARBONLEDGER_HOME to load factors")
        if edition is not None and not _SAFE_NAME.fullmatch(edition):
            raise InvalidInput(f"edition name {edition!r}: use letters, digits, '.', '_', '-'")
        loaded = read_file(path, edition=edition)
        if not _SAFE_NAME.fullmatch(loaded.name):
            raise InvalidInput(
                f"{path.name}: edition name {loaded.name!r} is not usable; pass --edition NAME"
            )
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if loaded.edition is not None:
                if any(b[0] == loaded.name for b in _BUILTIN):
                    raise InvalidInput(
                        f"{path.name}: edition {loaded.name!r} is built in; pass "
                        "--edition with another name to load this file"
                    )
                target = folder / f"{loaded.name}.factors.csv"
                target.write_text(write_factor_csv(loaded.edition.factors), "utf-8")
            else:
                target = folder / f"{loaded.name}.zip.csv.gz"
                target.write_bytes(gzip.compress(loaded.text.encode("utf-8"), mtime=0))
        except OSError as exc:
            raise ConfigurationError(f"cannot write to {folder}: {exc}") from exc
        with self._lock:
            self._user = None
            self._editions.pop(loaded.name, None)
            self._zips.pop(loaded.name, None)
            self._resolutions.clear()
        return loaded

    # -- resolution -------------------------------------------------------
    def resolve(
        self,
        activity: str,
        location: Location,
        *,
        year: int | None = None,
        edition: str | None = None,
        gwp: str = "AR5",
    ) -> Resolution:
        """Choose the factors for ``activity`` at ``location`` (see :mod:`.resolver`).

        ``gwp`` names the GWP set (AR4, AR5, AR6) used where a dataset publishes
        CH4 and N2O separately (the EPA Hub).  Results are cached per (activity,
        location, year, edition, gwp): the importer resolves once per site and
        year and calculates many bills with it.
        """
        key = (activity, location, year, edition, gwp)
        found = self._resolutions.get(key)
        if found is None:
            from carbonledger.factors.resolver import resolve

            found = resolve(self, activity, location, year=year, edition=edition, gwp=gwp)
            self._resolutions[key] = found
        return found
