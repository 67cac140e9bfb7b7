"""Where configuration text comes from: files on this host, or a request's fields.

Commands read the operator's files here (strictly as UTF-8: a stray binary byte is
reported with its position, not guessed at) and send the texts to cmcld, so the daemon
checks exactly what the operator sees. A legacy package's control script is found
through PKG.conf's RUN_SCRIPT and travels with it.
"""

from dataclasses import dataclass
from pathlib import Path

from cluster.config.problems import ConfigError, Problem
from cluster.hostfiles import MAX_CONFIG_FILE, RefusedFile, read_regular
from cluster.pb.v1 import config_pb2 as pb


@dataclass(frozen=True)
class Source:
    """A configuration file as text, and the path to name in messages."""

    path: str
    text: str


@dataclass(frozen=True)
class PackageSource:
    """A package file; for a legacy package also its control script.

    `control_name` is how PKG.conf names the control script in RUN_SCRIPT (by default
    where it was read): those RUN_SCRIPT/HALT_SCRIPT lines are dropped (see legacy.py).
    """

    path: str
    text: str
    control: Source | None = None
    control_name: str = ""


def read_text(path: Path | str) -> str:
    """A configuration file's text; raises ConfigError naming the file and the reason.

    Only a regular file of at most MAX_CONFIG_FILE bytes is read (`-P /dev/zero` read
    until memory ran out)."""
    try:
        data = read_regular(path, MAX_CONFIG_FILE)
    except RefusedFile as exc:
        raise ConfigError([Problem(str(path), 0, str(exc))]) from None
    except OSError as exc:
        raise ConfigError([Problem(str(path), 0, f"cannot read: {exc.strerror or exc}")]) from exc
    try:
        return data.decode("utf-8-sig")  # a byte-order mark from some editors is dropped
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [Problem(str(path), line, f"not UTF-8 text (byte {exc.start}): is it a binary file?")]
        ) from exc


def read_source(path: Path | str) -> Source:
    return Source(str(path), read_text(path))


def read_package_source(path: Path | str, control: Path | str | None = None) -> PackageSource:
    """A package file and, when its RUN_SCRIPT is a legacy control script, that script.

    `control` reads the control script from another place than RUN_SCRIPT says (a copy
    being prepared, or a test); RUN_SCRIPT still names it in the configuration.
    """
    from cluster.config.legacy import looks_like_control_script

    text = read_text(path)
    run_script = run_script_of(text)
    where = control if control is not None else run_script
    if where is None or not Path(where).is_file():
        return PackageSource(str(path), text)
    script = read_text(where)
    if control is None and not looks_like_control_script(script):
        return PackageSource(str(path), text)
    name = run_script or str(where)
    return PackageSource(str(path), text, Source(str(where), script), name)


def run_script_of(text: str) -> str | None:
    """The RUN_SCRIPT value of a package file, read leniently (errors come later)."""
    from cluster.config.lexer import tokens
    from cluster.config.problems import Problems

    for token in tokens(text, "", Problems()):
        if token.keyword == "RUN_SCRIPT":
            return token.value
    return None


def to_pb(source: Source | PackageSource) -> pb.ConfigSource:
    """For CheckConfigRequest / ApplyConfigRequest."""
    message = pb.ConfigSource(path=source.path, text=source.text)
    if isinstance(source, PackageSource) and source.control is not None:
        message.control_path = source.control.path
        message.control_text = source.control.text
        message.control_name = source.control_name
    return message


def cluster_from_pb(message: pb.ConfigSource) -> Source | None:
    """None when the request carries no cluster file (packages only)."""
    if not message.path and not message.text:
        return None
    return Source(message.path, message.text)


def package_from_pb(message: pb.ConfigSource) -> PackageSource:
    control = None
    if message.control_path or message.control_text:
        control = Source(message.control_path, message.control_text)
    return PackageSource(message.path, message.text, control, message.control_name)
