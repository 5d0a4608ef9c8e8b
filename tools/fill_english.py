"""Give every untranslated entry of the English catalogues its msgid (English is the source language).

Run by `make messages` after `pybabel update`, so the English catalogues stay complete without
anyone copying strings by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po


def fill(path: Path) -> int:
    with path.open("rb") as fh:
        catalog = read_po(fh, locale="en")
    filled = 0
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            if not all(message.string):
                message.string = (message.id[0], *([message.id[1]] * (len(message.string) - 1)))
                filled += 1
        elif not message.string:
            message.string = message.id
            filled += 1
    if filled:
        with path.open("wb") as fh:
            write_po(fh, catalog, omit_header=False, no_location=True, sort_output=True, ignore_obsolete=True)
    return filled


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "src/nokor")
    for po in sorted(root.glob("*/locale/en/LC_MESSAGES/messages.po")):
        count = fill(po)
        if count:
            print(f"{po}: {count} English entries filled")
