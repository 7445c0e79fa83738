"""Emission-factor datasets: loaders for the official files, the catalog, resolution.

Importing this package reads no data; :class:`FactorCatalog` loads each
edition the first time it is used.
"""

from carbonledger.core.factor_values import Edition, EmissionFactor, Location, Resolution
from carbonledger.factors.base import DataWarning
from carbonledger.factors.catalog import EditionInfo, FactorCatalog
from carbonledger.factors.countries import normalise_country
from carbonledger.factors.formats import FORMATS, LoadedFile
from carbonledger.factors.resolver import normalise_activity, pick_year

__all__ = [
    "FORMATS",
    "DataWarning",
    "Edition",
    "EditionInfo",
    "EmissionFactor",
    "FactorCatalog",
    "LoadedFile",
    "Location",
    "Resolution",
    "normalise_activity",
    "normalise_country",
    "pick_year",
]
