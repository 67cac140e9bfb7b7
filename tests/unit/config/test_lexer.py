"""The line format: keywords, values with spaces, comments and quotes."""

from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.config.lexer import quote, split_value, tokens
from cluster.config.problems import Problems


def lex(text: str) -> list[tuple[int, str, str]]:
    problems = Problems()
    found = [(t.line, t.keyword, t.value) for t in tokens(text, "f", problems)]
    assert not problems.errors, [str(p) for p in problems]
    return found


def test_keywords_are_case_insensitive_and_values_keep_their_spaces() -> None:
    text = "dependency_condition dbpkg = UP\n  USER_NAME\tjohn  fred\n"
    assert lex(text) == [(1, "DEPENDENCY_CONDITION", "dbpkg = UP"), (2, "USER_NAME", "john  fred")]


def test_comments_start_at_a_line_or_after_white_space() -> None:
    text = "# whole line\nA x#y  # trailing\nB \"quoted # kept\"\nC 'single # kept' # gone\n"
    assert lex(text) == [(2, "A", "x#y"), (3, "B", "quoted # kept"), (4, "C", "single # kept")]


def test_quotes_inside_a_value_are_kept() -> None:
    assert split_value('/bin/app -m "x y"') == ('/bin/app -m "x y"', False)
    assert split_value('"a \\"b\\" c"') == ('a "b" c', True)
    assert split_value('""') == ("", True)


def test_an_unterminated_quote_is_reported_with_its_keyword() -> None:
    problems = Problems()
    found = list(tokens('A "open\nB ok\n', "f", problems))
    assert [t.keyword for t in found] == ["A", "B"]
    assert found[0].error == 'A: unterminated quote (")'


def test_a_line_without_keyword_is_an_error() -> None:
    problems = Problems()
    assert list(tokens("1abc value\nLV[0]=/dev/x\n", "f", problems)) == []
    assert [p.line for p in problems.errors] == [1, 2]
    assert "control-script line" in problems.errors[1].message


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="\n\r"), max_size=40))
def test_quote_writes_any_value_so_that_it_reads_back(value: str) -> None:
    text = quote(value)
    assert split_value(text)[0] == value
    # and on a line of its own, after a keyword
    problems = Problems()
    found = list(tokens(f"KEY {text}\n", "f", problems))
    assert [t.value for t in found] == [value]
