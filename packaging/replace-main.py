#!/usr/bin/env python3
"""Give a shiv zipapp our start: packaging/zipapp_main.py, then shiv's bootstrap.

Usage: packaging/replace-main.py ZIPAPP MAIN_PY [ALERTS_DIR]

shiv writes a __main__.py that only calls its bootstrap. Ours first calls `prepare`
of MAIN_PY (put in the zipapp's top level as _cmcluster_main, with the build id shiv
wrote in environment.json) to choose where to unpack. The module also goes in
compiled (an unchecked hash-based .pyc, which zipimport takes as is when the
interpreter's version matches and otherwise skips for the source): a command then
does not compile it on every start. The archive is rewritten entry by entry with the
same names, dates, modes and compression after the same shebang line, so the build
stays reproducible. ALERTS_DIR's example alert scripts go in as cmcluster_alerts/NAME
(mode 0755), for `install` to write out.
"""

import json
import os
import py_compile
import sys
import tempfile
import zipfile
from pathlib import Path

MODULE = "_cmcluster_main"
ALERTS = "cmcluster_alerts"
MAIN = f"""\
# cmcluster: choose where to unpack ({MODULE}), then run shiv's bootstrap.
import {MODULE}
{MODULE}.CHOSEN = {MODULE}.prepare()
import _bootstrap
_bootstrap.bootstrap()
"""
PLACEHOLDER = 'BUILD_ID = ""'


def compiled(source: str) -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        py, pyc = Path(scratch, f"{MODULE}.py"), Path(scratch, f"{MODULE}.pyc")
        py.write_text(source)
        mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
        shown = f"{MODULE}.py"  # not the temporary path: the build stays reproducible
        py_compile.compile(str(py), str(pyc), shown, doraise=True, invalidation_mode=mode)
        return pyc.read_bytes()


def main() -> int:
    target, main_py = Path(sys.argv[1]), Path(sys.argv[2])
    alerts = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    data = target.read_bytes()
    with zipfile.ZipFile(target) as source:
        entries = source.infolist()
        shebang = data[: min((i.header_offset for i in entries), default=0)]
        build_id = json.loads(source.read("environment.json"))["build_id"]
        text = main_py.read_text()
        if PLACEHOLDER not in text:
            print(f"replace-main: no {PLACEHOLDER!r} line in {main_py}", file=sys.stderr)
            return 1
        text = text.replace(PLACEHOLDER, f"BUILD_ID = {build_id!r}", 1)
        ours = {
            "__main__.py": MAIN.encode(),
            f"{MODULE}.py": text.encode(),
            f"{MODULE}.pyc": compiled(text),
        }
        scripts = sorted(p for p in alerts.iterdir() if p.is_file()) if alerts else []
        template = next(i for i in entries if i.filename == "__main__.py")
        tmp = target.with_name(f".{target.name}.main{os.getpid()}")
        try:
            with tmp.open("wb") as out:
                out.write(shebang)
                with zipfile.ZipFile(out, "w") as archive:
                    for info in entries:
                        if info.filename not in ours:
                            archive.writestr(info, source.read(info))
                    for name, body in ours.items():
                        info = zipfile.ZipInfo(name, template.date_time)
                        info.compress_type = template.compress_type
                        info.external_attr = template.external_attr
                        archive.writestr(info, body)
                    for script in scripts:
                        info = zipfile.ZipInfo(f"{ALERTS}/{script.name}", template.date_time)
                        info.compress_type = template.compress_type
                        info.external_attr = 0o100755 << 16
                        archive.writestr(info, script.read_bytes())
            tmp.chmod(target.stat().st_mode)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
