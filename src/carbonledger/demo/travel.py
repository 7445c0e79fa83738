"""The demo's business travel and freight: a year of trips recorded like bills."""

from __future__ import annotations

from pathlib import Path

from carbonledger.crypto.keys import PrivateKey
from carbonledger.factors import FactorCatalog
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import LedgerPort
from carbonledger.services.importer import ImportReport
from carbonledger.services.travel_import import TravelImportSession, iter_trips

__all__ = ["TRIPS_CSV", "import_demo_travel"]

TRIPS_CSV = """site,trip,date,end,mode,from,to,cabin,passengers,amount,unit,country
nw-london,NW-T001,2023-02-06,,flight,LHR,JFK,economy,2,,,
nw-london,NW-T002,2023-02-07,2023-02-10,hotel,,,,,3,nights,US
nw-london,NW-T003,2023-03-14,,flight,LHR,BER,business,1,,,
nw-london,NW-T004,2023-03-15,,rail_international,,,,,1050,pkm,
nw-chicago,NW-T005,2023-04-18,,flight,ORD,SFO,economy,3,,,
nw-chicago,NW-T006,2023-04-18,2023-04-20,hotel,,,,,6,nights,US
nw-nyc,NW-T007,2023-06-02,,flight,JFK,LHR,business,1,,,
nw-berlin,NW-T008,2023-09-11,,flight,BER,CDG,economy,2,,,
nw-paris,NW-T009,2023-10-03,,rail_international,,,,,2200,pkm,
nw-warsaw,NW-T010,2023-11-20,,taxi,,,,,45,km,
nw-warsaw,NW-F001,2023-01-01,2023-12-31,freight_hgv,,,,,182000,tkm,
nw-chicago,NW-F002,2023-01-01,2023-12-31,freight_rail,,,,,640000,short ton-mile,
nw-london,NW-F003,2023-05-01,2023-05-31,freight_sea_container,,,,,95000,tkm,
"""


def import_demo_travel(
    ledger: LedgerPort, key: PrivateKey, catalog: FactorCatalog, store: ChannelStore, folder: Path
) -> ImportReport:
    """Write the demo's trips file to ``folder`` and import it with ``key``."""
    path = folder / "northwind-travel-2023.csv"
    path.write_text(TRIPS_CSV)
    session = TravelImportSession(ledger, key, catalog, store=store, source=path.name)
    session.add_trips(iter_trips(TRIPS_CSV.splitlines()))
    return session.finish()
