#!/usr/bin/env python3
"""Put packaging/zipapp_main.py into a shiv zipapp as its __main__.py.

Usage: packaging/replace-main.py ZIPAPP MAIN_PY

shiv writes a __main__.py that only calls its bootstrap; ours first chooses where to
unpack (see zipapp_main.py) and needs the build id shiv put in environment.json. The
archive is rewritten entry by entry with the same names, dates, modes and compression,
after the same shebang line, so the build stays reproducible.
"""

import json
import os
import sys
import zipfile
from pathlib import Path


def main() -> int:
    target, main_py = Path(sys.argv[1]), Path(sys.argv[2])
    data = target.read_bytes()
    with zipfile.ZipFile(target) as source:
        shebang = data[: min((i.header_offset for i in source.infolist()), default=0)]
        build_id = json.loads(source.read("environment.json"))["build_id"]
        text = main_py.read_text()
        placeholder = 'BUILD_ID = ""'
        if placeholder not in text:
            print(f"replace-main: no {placeholder!r} line in {main_py}", file=sys.stderr)
            return 1
        text = text.replace(placeholder, f"BUILD_ID = {build_id!r}", 1)
        tmp = target.with_name(f".{target.name}.main{os.getpid()}")
        try:
            with tmp.open("wb") as out:
                out.write(shebang)
                with zipfile.ZipFile(out, "w") as archive:
                    for info in source.infolist():
                        body = text.encode() if info.filename == "__main__.py" else None
                        archive.writestr(info, body if body is not None else source.read(info))
            tmp.chmod(target.stat().st_mode)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
