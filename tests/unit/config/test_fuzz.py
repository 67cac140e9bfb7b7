"""Random and mutated input never ends in a traceback: only located problems come out.

Hypothesis prints the failing example and how to reproduce it (@reproduce_failure);
`--hypothesis-seed=N` replays a run.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.config.check import check_config
from cluster.config.compile import decode_config, make_blob, read_blob
from cluster.config.problems import ConfigError
from cluster.config.render import render_cluster, render_package
from cluster.config.source import PackageSource, Source

from .corpus import DATA, valid_cases

CASES = valid_cases()
CLUSTERS = [c.cluster.text for c in CASES if c.cluster is not None]
PACKAGES = [p.text for c in CASES for p in c.packages]
CONTROLS = [p.control.text for c in CASES for p in c.packages if p.control is not None]
BASE = Source("base.ascii", (DATA / "broken" / "base-cluster.ascii").read_text())
TRICKY = " \t\n#\"'\\=[];:/.-_*$`0123456789aAzZ\x85\u2028\xa0\u00e9\U0001f600"
GOOD_CONFIG = check_config(CASES[0].cluster, list(CASES[0].packages)).raise_if_errors()
GOOD_BLOB = (GOOD_CONFIG, make_blob(GOOD_CONFIG, 3).SerializeToString())
FUZZ = settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def mutated(draw: st.DrawFn, texts: list[str]) -> str:
    """A valid file with a few random edits: cut, insert, duplicate, swap, recase."""
    text = draw(st.sampled_from(texts))
    for _ in range(draw(st.integers(1, 4))):
        lines = text.split("\n")
        kind = draw(st.sampled_from(["cut", "insert", "dup", "swap", "case", "replace"]))
        at = draw(st.integers(0, max(0, len(text) - 1)))
        if kind == "cut":
            text = text[:at] + text[at + draw(st.integers(1, 20)) :]
        elif kind == "insert":
            text = text[:at] + draw(st.text(alphabet=TRICKY, min_size=1, max_size=8)) + text[at:]
        elif kind in ("dup", "swap") and lines:
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if kind == "dup":
                lines.insert(j, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif kind == "case":
            text = text[:at] + text[at : at + 30].swapcase() + text[at + 30 :]
        elif lines:
            i = draw(st.integers(0, len(lines) - 1))
            words = lines[i].split()
            if words:
                words[-1] = draw(st.text(alphabet=TRICKY, max_size=12))
                lines[i] = " ".join(words)
            text = "\n".join(lines)
    return text


def roundtrip_holds(cluster: Source, packages: list[PackageSource]) -> None:
    """Whatever checks cleanly also survives compile -> render -> parse unchanged."""
    result = check_config(cluster, packages)
    if result.config is None:
        assert result.errors
        return
    config = result.config
    assert decode_config(read_blob(make_blob(config, 1).SerializeToString())) == config
    again = check_config(
        Source("r.ascii", render_cluster(config.cluster)),
        [PackageSource(f"{p.name}.conf", render_package(p)) for p in config.packages],
    )
    assert again.config == config, [str(p) for p in again.problems]


@FUZZ
@given(st.text(alphabet=TRICKY + "CLUSTER_NAMEODIPHBTSRQ", max_size=300))
def test_random_text_as_cluster_file(text: str) -> None:
    roundtrip_holds(Source("random.ascii", text), [])


@FUZZ
@given(mutated(CLUSTERS))
def test_mutated_cluster_files(text: str) -> None:
    roundtrip_holds(Source("mutated.ascii", text), [])


@FUZZ
@given(mutated(PACKAGES))
def test_mutated_package_files(text: str) -> None:
    roundtrip_holds(BASE, [PackageSource("mutated.conf", text)])


@settings(FUZZ, max_examples=250)
@given(mutated(CONTROLS))
def test_mutated_control_scripts(text: str) -> None:
    legacy = next(c for c in CASES if c.name == "guide-legacy")
    package = legacy.packages[0]
    assert package.control is not None
    mutated_package = PackageSource(
        package.path, package.text, Source(package.control.path, text), package.control_name
    )
    assert legacy.cluster is not None
    roundtrip_holds(legacy.cluster, [mutated_package])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 400), st.binary(min_size=1, max_size=3))
def test_corrupted_binary_configuration_is_refused_cleanly(
    noise: bytes, at: int, patch: bytes
) -> None:
    config, good = GOOD_BLOB
    for data in (noise, good[:at] + patch + good[at + len(patch) :], good[:at]):
        try:
            decoded = decode_config(read_blob(data))
        except ConfigError:
            continue
        assert decoded == config  # a patch that changed nothing (or only metadata)
