"""`python -m contracts export`: write the JSON Schemas of every event (commit the result)."""
import sys

from contracts.registry import export

if __name__ == "__main__":
    if sys.argv[1:] != ["export"]:
        sys.exit("usage: python -m contracts export")
    for name in export():
        print(f"wrote contracts/schemas/{name}")
