"""The legacy package control script (control.sh / PKG.cntl): its arrays, not its code.

Older Serviceguard packages are a pair: PKG.conf (the same `KEYWORD value` format as a
modular file, with older names such as SUBNET and PKG_SWITCHING_ENABLED) and a shell
control script holding the resources in arrays:

    VG[0]="vg01"
    LV[0]=/dev/vg01/lvol1; FS[0]=/data; FS_MOUNT_OPT[0]="-o rw"
    IP[0]=198.18.1.100
    SUBNET[0]=198.18.1.0
    SERVICE_NAME[0]="app"; SERVICE_CMD[0]="/opt/app/bin/app"; SERVICE_RESTART[0]="-r 2"

cmcluster reads those arrays into the same entries a modular package has (LV becomes
FS_NAME, FS becomes FS_DIRECTORY, IP/SUBNET pairs become IP_SUBNET/IP_ADDRESS, services
are joined by name with PKG.conf's SERVICE_NAME lines) and manages the resources itself.
It does not run the control script: when PKG.conf's RUN_SCRIPT or HALT_SCRIPT names it,
that line is dropped with a warning, because running it would activate and mount
everything a second time. Move the commands of customer_defined_run_cmds and
customer_defined_halt_cmds into scripts of their own and name those instead (what
Serviceguard's cmmigratepkg asks for too). Other shell code is ignored.
"""

import difflib
import re
import shlex
from dataclasses import dataclass

from cluster.config.params_package import CVM_UNSUPPORTED, PACKAGE_SCHEMA
from cluster.config.parser import Draft
from cluster.config.problems import Problems
from cluster.config.schema import Param
from cluster.config.source import Source

ASSIGNMENT_RE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\[(?P<index>[^\]]*)\]=(?P<value>.*)$")
FILESYSTEM_ARRAYS = ("LV", "FS", "FS_TYPE", "FS_MOUNT_OPT", "FS_UMOUNT_OPT", "FS_FSCK_OPT")
KNOWN_ARRAYS = (
    "VG",
    *FILESYSTEM_ARRAYS,
    "IP",
    "SUBNET",
    "SERVICE_NAME",
    "SERVICE_CMD",
    "SERVICE_RESTART",
)
UNSUPPORTED_ARRAYS = {
    "CVM_DG": CVM_UNSUPPORTED,
    "VXVM_DG": CVM_UNSUPPORTED,
    "DEFERRED_RESOURCE_NAME": "EMS resources are not supported: use an OCF agent or a service",
    "MD": "software RAID (MD) is not supported: assemble it outside the package",
    "XFS": "NFS exports are not supported: use the OCF agent heartbeat/exportfs",
}
MAX_INDEX = 1023
# Where each array lands: (keyword of the block it belongs to, keyword of its entry).
_FS_KEYWORDS = {
    "FS": "FS_DIRECTORY",
    "FS_TYPE": "FS_TYPE",
    "FS_MOUNT_OPT": "FS_MOUNT_OPT",
    "FS_UMOUNT_OPT": "FS_UMOUNT_OPT",
    "FS_FSCK_OPT": "FS_FSCK_OPT",
}


@dataclass(frozen=True)
class Assignment:
    name: str
    index: int
    value: str
    line: int
    valid: bool = True  # a bad value was reported; the slot still counts as given


Arrays = dict[str, dict[int, Assignment]]


def read_arrays(text: str, path: str, problems: Problems) -> Arrays:
    """Every non-empty NAME[i]=value assignment of the known arrays."""
    arrays: Arrays = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        try:
            statements = _statements(raw)
        except ValueError as exc:
            if "[" in raw and "=" in raw:
                problems.error(path, number, str(exc))
            continue
        for statement in statements:
            match = ASSIGNMENT_RE.match(statement)
            if match:
                _assign(match, number, path, arrays, problems)
    return arrays


def looks_like_control_script(text: str) -> bool:
    """Whether a RUN_SCRIPT is a legacy control script (so its arrays are the resources)."""
    if "customer_defined_run_cmds" in text:
        return True
    for line in text.split("\n"):
        match = ASSIGNMENT_RE.match(line.strip())
        if match and match["name"] in KNOWN_ARRAYS:
            return True
    return False


def merge_control_script(
    root: Draft, control: Source, name: str, conf_path: str, problems: Problems
) -> None:
    """Add the control script's resources to a PKG.conf draft, as modular entries.

    `name` is the path PKG.conf uses for the script (its RUN_SCRIPT value).
    """
    control_path = control.path
    arrays = read_arrays(control.text, control_path, problems)
    _drop_control_script_lines(root, name, conf_path, problems)
    add = _Adder(root, control_path, conf_path, problems)
    for assignment in _ordered(arrays.get("VG", {})):
        add.top("VG", assignment)
    _filesystems(arrays, add, control_path, problems)
    _addresses(arrays, add, control_path, problems)
    _services(arrays, root, add, control_path, problems)


class _Adder:
    """Builds drafts from assignments, typed by the package parameters' declarations."""

    def __init__(self, root: Draft, source: str, conf_path: str, problems: Problems) -> None:
        self.root = root
        self.source = source
        self.conf_path = conf_path
        self.problems = problems

    def make(self, param: Param, assignment: Assignment, text: str | None = None) -> Draft:
        entry = Draft(param, param.keyword, "", assignment.line, source=self.source)
        if not assignment.valid:
            entry.valid = False
            return entry
        try:
            entry.value = param.type.parse(assignment.value if text is None else text)
        except ValueError as exc:
            label = f"{assignment.name}[{assignment.index}]"
            self.problems.error(self.source, assignment.line, f"{label}: {exc}")
            entry.valid = False
        return entry

    def top(self, keyword: str, assignment: Assignment) -> Draft:
        param = _param(keyword)
        entry = self.make(param, assignment)
        self.root.add(entry, self.conf_path, self.problems)
        return entry

    def child(
        self, block: Draft, keyword: str, assignment: Assignment, text: str | None = None
    ) -> None:
        assert block.param is not None
        block.add(
            self.make(block.param.child(keyword), assignment, text), self.source, self.problems
        )


def _filesystems(arrays: Arrays, add: _Adder, path: str, problems: Problems) -> None:
    indexes = sorted({i for name in FILESYSTEM_ARRAYS for i in arrays.get(name, {})})
    for index in indexes:
        lv = arrays.get("LV", {}).get(index)
        fs = arrays.get("FS", {}).get(index)
        if lv is None or fs is None:
            given = lv or fs or _first_at(arrays, FILESYSTEM_ARRAYS, index)
            missing = " and ".join(
                f"{n}[{index}]" for n, a in (("LV", lv), ("FS", fs)) if a is None
            )
            problems.error(path, given.line, f"{given.name}[{index}] has no {missing}")
            continue
        block = add.top("FS_NAME", lv)
        for name, keyword in _FS_KEYWORDS.items():
            assignment = arrays.get(name, {}).get(index)
            if assignment is not None:
                add.child(block, keyword, assignment)


def _addresses(arrays: Arrays, add: _Adder, path: str, problems: Problems) -> None:
    ips, subnets = arrays.get("IP", {}), arrays.get("SUBNET", {})
    blocks: dict[str, Draft] = {}
    for index in sorted(set(ips) | set(subnets)):
        ip, subnet = ips.get(index), subnets.get(index)
        if ip is None or subnet is None:
            given = ip or subnet
            assert given is not None
            other = "SUBNET" if ip is not None else "IP"
            problems.error(path, given.line, f"{given.name}[{index}] has no {other}[{index}]")
            continue
        block = blocks.get(subnet.value)
        if block is None:
            block = add.top("IP_SUBNET", subnet)
            blocks[subnet.value] = block
        add.child(block, "IP_ADDRESS", ip)


def _services(arrays: Arrays, root: Draft, add: _Adder, path: str, problems: Problems) -> None:
    names, commands = arrays.get("SERVICE_NAME", {}), arrays.get("SERVICE_CMD", {})
    restarts = arrays.get("SERVICE_RESTART", {})
    declared = {c.value: c for c in root.children if c.keyword == "SERVICE_NAME" and c.valid}
    for index in sorted(set(names) | set(commands) | set(restarts)):
        name = names.get(index)
        if name is None:
            given = commands.get(index) or restarts[index]
            problems.error(path, given.line, f"{given.name}[{index}] has no SERVICE_NAME[{index}]")
            continue
        block = declared.get(name.value)
        if block is None:
            problems.error(
                path,
                name.line,
                f"service {name.value} has no SERVICE_NAME {name.value} line in the package "
                "configuration file (legacy packages declare each service in both files)",
            )
            continue
        if index in commands:
            add.child(block, "SERVICE_CMD", commands[index])
        if index in restarts:
            restart = restarts[index]
            add.child(block, "SERVICE_RESTART", restart, _legacy_restart(restart.value))


def _legacy_restart(text: str) -> str:
    """Legacy SERVICE_RESTART: "-r N" (N restarts), "-R" (unlimited), "" (none)."""
    words = text.split()
    if words == ["-R"]:
        return "unlimited"
    if len(words) == 2 and words[0] == "-r":
        return words[1]
    if len(words) == 1 and words[0].startswith("-r") and words[0][2:].isdigit():
        return words[0][2:]
    return text  # the declaration's own words (none, unlimited, N) are accepted too


def _drop_control_script_lines(
    root: Draft, control: str, conf_path: str, problems: Problems
) -> None:
    dropped = [
        child
        for child in root.children
        if child.keyword in ("RUN_SCRIPT", "HALT_SCRIPT") and child.value == control and child.valid
    ]
    for child in dropped:
        child.valid = False
    if dropped:
        keywords = " and ".join(c.keyword for c in dropped)
        problems.warn(
            conf_path,
            dropped[0].line,
            f"{keywords} {control} is the legacy control script: cmcluster manages its "
            "VG, LV/FS, IP/SUBNET and SERVICE arrays itself and does not run it; move the "
            "commands of customer_defined_run_cmds/customer_defined_halt_cmds into scripts "
            "of their own and name them in RUN_SCRIPT and HALT_SCRIPT",
        )


def _param(keyword: str) -> Param:
    placement = PACKAGE_SCHEMA.find(keyword)
    assert placement is not None, keyword
    return placement.param


def _ordered(array: dict[int, Assignment]) -> list[Assignment]:
    return [array[i] for i in sorted(array)]


def _first_at(arrays: Arrays, names: tuple[str, ...], index: int) -> Assignment:
    for name in names:
        if index in arrays.get(name, {}):
            return arrays[name][index]
    raise KeyError(index)


def _assign(
    match: re.Match[str], number: int, path: str, arrays: Arrays, problems: Problems
) -> None:
    name, raw_index, raw_value = match["name"], match["index"], match["value"]
    label = f"{name}[{raw_index}]"
    if name in UNSUPPORTED_ARRAYS:
        if _value(raw_value):
            problems.error(path, number, f"{name}: {UNSUPPORTED_ARRAYS[name]}")
        return
    if name not in KNOWN_ARRAYS:
        guess = difflib.get_close_matches(name, KNOWN_ARRAYS, n=1, cutoff=0.75)
        if guess:
            problems.error(path, number, f"unknown array {name} (did you mean {guess[0]}?)")
        return
    if not raw_index.isdigit() or int(raw_index) > MAX_INDEX:
        problems.error(path, number, f"{label}: the index must be a number from 0 to {MAX_INDEX}")
        return
    valid = True
    try:
        value = _value(raw_value)
    except ValueError as exc:
        problems.error(path, number, f"{label}: {exc}")
        value, valid = raw_value, False
    if not value:
        return  # an empty element is an unused slot, as in Serviceguard's templates
    index = int(raw_index)
    earlier = arrays.setdefault(name, {}).get(index)
    if earlier is not None:
        problems.error(path, number, f"{label} assigned twice (first on line {earlier.line})")
        return
    arrays[name][index] = Assignment(name, index, value, number, valid)


def _value(raw: str) -> str:
    """The shell value of an assignment's right-hand side, refusing what needs a shell."""
    text = raw.strip()
    literal = text.startswith("'") and text.endswith("'") and len(text) > 1
    if not literal and ("$" in text or "`" in text):
        raise ValueError("shell variables and commands are not expanded: write the value out")
    words = shlex.split(text, comments=False, posix=True)
    if len(words) > 1:
        raise ValueError("a value with spaces must be quoted")
    return words[0] if words else ""


def _statements(line: str) -> list[str]:
    """The statements of a shell line: comment removed, split on ';' outside quotes."""
    statements: list[list[str]] = [[]]
    for word in _raw_words(line):
        if word == ";":
            statements.append([])
        else:
            statements[-1].append(word)
    return [" ".join(words) for words in statements if words]


def _raw_words(line: str) -> list[str]:
    """Split on white space and ';' outside quotes, keeping quotes; stop at a comment."""
    words: list[str] = []
    current = ""
    quote = ""
    index = 0
    while index < len(line):
        char = line[index]
        if quote:
            current += char
            if char == "\\" and quote == '"' and index + 1 < len(line):
                current += line[index + 1]
                index += 1
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
            current += char
        elif char == "#" and not current:
            break
        elif char in " \t;":
            if current:
                words.append(current)
                current = ""
            if char == ";":
                words.append(";")
        else:
            current += char
        index += 1
    if quote:
        raise ValueError(f"unterminated quote ({quote})")
    if current:
        words.append(current)
    return words
