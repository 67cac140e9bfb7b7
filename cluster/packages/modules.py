"""A package's modules, declared once: their Serviceguard names, in start order, and the
resource kinds each covers. Maintenance mode starts a package in part (cmrunpkg -m
MODULE: every module up to and including MODULE; -e MODULE: all but MODULE) and halts
some modules only (cmhaltpkg -s: the services); the command line, the RPC fields and
the package runner all read this table.

The order is cmcluster's start order (DESIGN.md section 3), which differs from
Serviceguard's in one place: floating IPs come before filesystems. `sg/ocf` (OCF
resource agents) is cmcluster's own.
"""

MODULES: tuple[tuple[str, str], ...] = (
    ("sg/volume_group", "vg"),
    ("sg/package_ip", "ip"),
    ("sg/filesystem", "fs"),
    ("sg/ocf", "ocf"),
    ("sg/external", "script"),
    ("sg/service", "service"),
)
NAMES: tuple[str, ...] = tuple(name for name, _ in MODULES)
KIND_OF: dict[str, str] = dict(MODULES)
MODULE_OF_KIND: dict[str, str] = {kind: name for name, kind in MODULES}
SERVICES = ("sg/service",)


def module_name(text: str) -> str:
    """The module `text` names ("sg/package_ip" or "package_ip"); ValueError naming the
    known modules otherwise."""
    name = text if text.startswith("sg/") else f"sg/{text}"
    if name not in KIND_OF:
        raise ValueError(f"unknown module {text!r}: one of {', '.join(NAMES)}")
    return name


def partial_start(upto: str | None, exclude: list[str]) -> tuple[str, ...]:
    """The modules cmrunpkg -m UPTO -e EXCLUDE... starts, in start order; () for the
    whole package. ValueError when a name is unknown, or an excluded module does not
    come before UPTO (Serviceguard's rule), or nothing would be left to start."""
    last = module_name(upto) if upto else None
    excluded = [module_name(e) for e in exclude]
    if last is None and not excluded:
        return ()
    chosen = NAMES[: NAMES.index(last) + 1] if last else NAMES
    for name in excluded:
        if last is not None and name not in chosen:
            raise ValueError(f"-e {name} must come before -m {last} in the start order")
    picked = tuple(n for n in chosen if n not in excluded)
    if not picked:
        raise ValueError("nothing would be started")
    return picked


def check_modules(names: list[str] | tuple[str, ...]) -> str:
    """Why a list of module names from outside (an RPC field) is wrong ("" if fine):
    known names, each once."""
    if len(names) > len(NAMES):
        return f"at most {len(NAMES)} modules"
    for name in names:
        if name not in KIND_OF:
            return f"unknown module {name[:40]!r}: one of {', '.join(NAMES)}"
    if len(set(names)) != len(names):
        return "a module is named twice"
    return ""
