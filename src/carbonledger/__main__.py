"""``python -m carbonledger``."""

from carbonledger.cli import main

main()
