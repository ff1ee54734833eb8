"""Messages read as English: articles before kind and base names, counts in the right number."""

import pytest

from loradex.adapters.words import article, count


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("sdxl", "an sdxl"),
        ("sd1", "an sd1"),
        ("unknown", "an unknown"),
        ("lycoris", "a lycoris"),
        ("lora", "a lora"),
        ("checkpoint", "a checkpoint"),
        ("flux", "a flux"),
    ],
)
def test_a_name_gets_the_article_it_is_read_with(word, expected):
    assert article(word) == expected


@pytest.mark.parametrize(
    ("n", "noun", "expected"),
    [(1, "notes", "1 note"), (2, "notes", "2 notes"), (0, "errors", "0 errors"), (1, "missing", "1 missing")],
)
def test_a_count_takes_its_noun_in_the_right_number(n, noun, expected):
    assert count(n, noun) == expected
