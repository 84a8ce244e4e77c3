import math
import re
from fractions import Fraction

import pytest

from nst.settings import DEFAULT, Settings, SettingsError


def test_defaults_are_valid():
    assert DEFAULT.validated() == DEFAULT


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"steps": 0}, "steps must be between"),
        ({"steps": -5}, "steps must be between"),
        ({"steps": 10**9}, "steps must be between"),
        ({"steps": 2.5}, "whole number"),
        ({"size": 0}, "size must be between"),
        ({"style_weight": -1}, "style_weight must be between"),
        ({"style_weight": math.inf}, "finite"),
        ({"style_weight": math.nan}, "finite"),
        ({"style_weight": "lots"}, "must be a number"),
        ({"style_layers": []}, "style_layers is empty"),
        ({"style_layers": ["relu1_1", "bogus"]}, "bogus"),
        ({"content_layer": "relu9_1"}, "relu9_1"),
        ({"init": "zeros"}, "init must be one of"),
        ({"optimizer": "sgd"}, "optimizer must be one of"),
        ({"style_layer_weights": [1, 2]}, "2 values for 5 style layers"),
        ({"colour": 1}, "unknown setting colour"),
    ],
)
def test_bad_settings_name_the_setting(changes, message):
    with pytest.raises(SettingsError, match=message):
        DEFAULT.replace(**changes)


def test_strings_from_forms_are_accepted():
    s = DEFAULT.replace(steps="20", style_layers="relu1_1, relu2_1", style_weight="1e-2")
    assert s.steps == 20 and s.style_layers == ("relu1_1", "relu2_1") and s.style_weight == 0.01


def test_round_trip_through_a_dict():
    s = DEFAULT.replace(steps=7, style_layers=["relu3_1"])
    assert Settings.from_mapping(s.to_dict()) == s


# --- Whole numbers are checked and kept exactly ----------------------------------------------


@pytest.mark.parametrize(
    "value, seed",
    [
        (2**63 - 1, 2**63 - 1),  # the largest seed the message allows
        (2**53 + 1, 2**53 + 1),  # the first whole number a float cannot hold
        ("9223372036854775807", 2**63 - 1),
        (" 9007199254740993 ", 2**53 + 1),
        ("+12", 12),
        ("12.0", 12),
        ("1e3", 1000),
        (1000.0, 1000),
        (float(2**53), 2**53),
    ],
)
def test_whole_numbers_are_kept_exactly(value, seed):
    import numpy as np

    assert DEFAULT.replace(seed=value).seed == seed
    assert type(DEFAULT.replace(seed=value).seed) is int
    if isinstance(value, int):
        assert DEFAULT.replace(seed=np.uint64(value)).seed == seed


@pytest.mark.parametrize(
    "value, message",
    [
        (2**63, "seed must be between 0 and 9223372036854775807, not 9223372036854775808"),
        ("9223372036854775808", "not 9223372036854775808"),
        (-1, "not -1"),
        (float(2**60), r"past 2\*\*53.*give it as an integer"),
        (1e30, "must be between 0 and 9223372036854775807, not 1e\\+30"),
        ("1e999999999", "must be between"),
        ("2.5", "whole number"),
        (2.5, "whole number"),
        ("abc", "must be a number"),
        ("inf", "finite"),
        (True, "whole number"),
        ([1], "must be a number"),
    ],
)
def test_bad_whole_numbers_are_named_exactly(value, message):
    with pytest.raises(SettingsError, match=message):
        DEFAULT.replace(seed=value)


def test_a_huge_integer_where_a_float_belongs_is_a_message():
    with pytest.raises(SettingsError, match="style_weight must be a finite number, not a 401-digit one"):
        DEFAULT.replace(style_weight=10**400)


def test_json_numbers_are_exact():
    """Settings sent as JSON (the API, recipes) keep their integers exact."""
    import json

    values = json.loads('{"seed": 9223372036854775807, "steps": 2e2, "size": 256.0}')
    s = Settings.from_mapping(values)
    assert (s.seed, s.steps, s.size) == (2**63 - 1, 200, 256)
    assert json.loads(json.dumps(s.to_dict()))["seed"] == 2**63 - 1


def test_strength_words_follow_the_ratio():
    from nst.settings import STRENGTHS, strength

    assert [strength(w) for _, w in STRENGTHS] == [word for word, _ in STRENGTHS]
    assert strength(DEFAULT.style_weight) == "balanced"
    assert strength(0.01) == "subtle" and strength(1e8) == "style only" and strength(0) == "photo only"
    assert strength(1e-3, "none") == ""  # Gatys's units: a ratio means another look per pair


@pytest.mark.parametrize(("value", "expected"), [(True, True), ("off", False), (0, False), ("yes", True)])
def test_keep_faces_is_a_switch(value, expected):
    assert Settings().replace(keep_faces=value).keep_faces is expected


def test_keep_faces_refuses_what_is_not_a_switch():
    with pytest.raises(SettingsError, match="keep_faces must be true or false"):
        Settings().replace(keep_faces="maybe")


@pytest.mark.parametrize("word", ["true", "false", "1", "0", "yes", "no", "on", "off", "TRUE", " no"])
def test_every_switch_word_is_read(word):
    if word.strip() != word:  # words are not trimmed: a stray space is refused, not guessed
        with pytest.raises(SettingsError, match="multiscale must be true or false"):
            DEFAULT.replace(multiscale=word)
        return
    assert DEFAULT.replace(multiscale=word).multiscale is (word.lower() in ("true", "1", "yes", "on"))


def test_to_dict_gives_plain_lists_and_every_field():
    from nst.settings import field_names

    d = DEFAULT.replace(style_blend=[1, 2]).to_dict()
    assert list(d) == list(field_names())
    assert d["style_layers"] == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    assert type(d["style_layers"]) is list and type(d["style_blend"]) is list
    assert d["steps"] == 200 and d["style_layer_weights"] is None


def test_field_info_describes_each_setting():
    from nst.settings import RELU_LAYERS, field_info

    init = field_info("init")
    assert (init.name, init.default, init.kind, init.choices) == (
        "init",
        "palette",
        str,
        ("content", "palette", "noise", "style"),
    )
    assert (
        init.help.startswith("starting image: content") and not init.many and not init.optional and not init.log_scale
    )
    layers = field_info("style_layers")
    assert layers.default == DEFAULT.style_layers and type(layers.default) is tuple
    assert layers.many and layers.kind is str and layers.ui_choices == RELU_LAYERS and layers.choices is None
    weight = field_info("style_weight")
    assert weight.log_scale and weight.kind is float and weight.default == 10.0
    assert field_info("steps").kind is int and field_info("multiscale").kind is bool
    rate = field_info("learning_rate")
    assert rate.optional and rate.kind is float and rate.default is None
    with pytest.raises(SettingsError, match="unknown setting colour"):
        field_info("colour")


# Each bound of LIMITS and of validated(): the bound itself is accepted, one step past it is
# refused with the bounds in the message.
@pytest.mark.parametrize(
    "name, lowest, highest, past, message",
    [
        ("steps", 1, 5000, 5001, "steps must be between 1 and 5000, not 5001"),
        ("size", 32, 8192, 31, "size must be between 32 and 8192, not 31"),
        ("size", 32, 8192, 8193, "size must be between 32 and 8192, not 8193"),
        ("style_weight", 0.0, 1e9, 1.1e9, "style_weight must be between 0 and 1e+09, not 1.1e+09"),
        ("style_scale", 0.1, 4.0, 0.09, "style_scale must be between 0.1 and 4, not 0.09"),
        ("style_scale", 0.1, 4.0, 4.01, "style_scale must be between 0.1 and 4, not 4.01"),
        ("tv_weight", 0.0, 1e6, -0.1, "tv_weight must be between 0 and 1e+06, not -0.1"),
        ("tv_weight", 0.0, 1e6, 1.1e6, "tv_weight must be between 0 and 1e+06, not 1.1e+06"),
        ("learning_rate", 1e-6, 1e3, 0, "learning_rate must be between 1e-06 and 1000, not 0"),
        ("learning_rate", 1e-6, 1e3, 1001, "learning_rate must be between 1e-06 and 1000, not 1001"),
        ("preview_every", 0, 5000, -1, "preview_every must be between 0 and 5000, not -1"),
        ("time_limit", 0.5, 86400.0, 0.4, "time_limit must be between 0.5 and 86400, not 0.4"),
        ("time_limit", 0.5, 86400.0, 86401, "time_limit must be between 0.5 and 86400, not 86401"),
        ("max_memory", 0.05, 1e4, 0.04, "max_memory must be between 0.05 and 10000, not 0.04"),
        ("max_memory", 0.05, 1e4, 10001, "max_memory must be between 0.05 and 10000, not 10001"),
    ],
)
def test_each_bound_is_inclusive_and_named(name, lowest, highest, past, message):
    assert getattr(DEFAULT.replace(**{name: lowest}), name) == lowest
    assert getattr(DEFAULT.replace(**{name: highest}), name) == highest
    with pytest.raises(SettingsError, match=f"^{re.escape(message)}$"):
        DEFAULT.replace(**{name: past})


def test_weights_and_layers_by_value():
    s = DEFAULT.replace(style_layer_weights=[0, 0, 0, 0, 2], style_blend="0 1")
    assert s.style_layer_weights == (0.0, 0.0, 0.0, 0.0, 2.0) and s.style_blend == (0.0, 1.0)
    for changes, message in [
        ({"style_layer_weights": [0] * 5}, "style_layer_weights must not all be zero"),
        ({"style_blend": [0, 0]}, "style_blend must have a positive weight"),
        ({"style_blend": []}, "style_blend must have a positive weight"),
        ({"style_layers": ["relu1_1", "relu1_1"]}, "style_layers names a layer twice"),
        ({"content_layer": 5}, "content_layer must be one layer's name, such as relu4_2, not 5"),
        ({"device": ""}, "device must be a name such as auto, cpu or cuda"),
        ({"weights": ""}, "weights must be embedded, torchvision, hf:OWNER/REPO/FILE or a path"),
        ({"init": "zeros"}, "init must be one of content, palette, noise, style, not 'zeros'"),
        ({"multiscale": 2}, "multiscale must be true or false, not 2"),
    ]:
        with pytest.raises(SettingsError, match=f"^{re.escape(message)}$"):
            DEFAULT.replace(**changes)
    assert DEFAULT.replace(multiscale=0).multiscale is False and DEFAULT.replace(keep_faces=1).keep_faces is True


def test_strength_words_change_halfway_on_a_log_scale():
    from nst.settings import strength

    # Halfway between 2 and 10 on a log scale is √20 = 4.47; between 10 and 50, √500 = 22.4;
    # between 50 and 1000, √50000 = 223.6.
    assert [strength(x) for x in (1e-9, 4.4, 4.5, 22.3, 22.5, 223, 224, 1e12)] == [
        "subtle",
        "subtle",
        "balanced",
        "balanced",
        "strong",
        "strong",
        "style only",
        "style only",
    ]
    assert strength(-1) == "photo only" and strength(10, "style") == ""


def test_help_text_and_choices_of_a_setting():
    from nst.settings import choices, help_text

    assert help_text("init").startswith("starting image: content") and choices("pooling") == ("max", "avg")
    assert choices("steps") is None


# --- Every message names its setting, word for word ------------------------------------------

_LAYER_NAMES = "valid names are conv1_1 ... conv5_4, relu1_1 ... relu5_4 and pool1 ... pool5"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"content_layer": "relu9_1"}, f"content_layer: unknown VGG19 layer 'relu9_1'; {_LAYER_NAMES}"),
        ({"content_layer": ""}, f"content_layer: unknown VGG19 layer ''; {_LAYER_NAMES}"),
        ({"style_layers": ["relu1_1", "bogus"]}, f"style_layers: unknown VGG19 layer 'bogus'; {_LAYER_NAMES}"),
        ({"style_layers": []}, "style_layers is empty: choose at least one style layer"),
        ({"style_layers": {"a": 1}}, "style_layers must be a list, not {'a': 1}"),
        ({"style_layers": [["relu1_1"]]}, "style_layers must be a list of layer names, not [['relu1_1']]"),
        ({"style_layer_weights": [1, 1, 1, 1, -1]}, "style_layer_weights must be between 0 and 1e+09, not -1"),
        (
            {"style_layer_weights": [1e9 + 0.5, 1, 1, 1, 1]},
            "style_layer_weights must be between 0 and 1e+09, not 1e+09",
        ),
        ({"style_layer_weights": {"a": 1}}, "style_layer_weights must be a list, not {'a': 1}"),
        ({"style_layer_weights": 5}, "style_layer_weights must be a list"),
        ({"style_blend": [1, -1]}, "style_blend must be between 0 and 1e+09, not -1"),
        ({"style_blend": [1e9 + 0.5]}, "style_blend must be between 0 and 1e+09, not 1e+09"),
        ({"style_blend": {"a": 1}}, "style_blend must be a list, not {'a': 1}"),
        ({"style_blend": 5}, "style_blend must be a list"),
        ({"tv_weight": 1e6 + 0.5}, "tv_weight must be between 0 and 1e+06, not 1e+06"),
        ({"style_weight": True}, "style_weight must be a number, not True"),
        ({"seed": [1]}, "seed must be a number, not [1]"),
        (
            {"seed": float(2**60)},
            "seed 1.152921504606847e+18 is past 2**53, where floating-point numbers skip whole "
            "numbers; give it as an integer (digits, not a float)",
        ),
        # Out of range: an int of up to 40 digits is shown whole, a longer one or a float in
        # short form, a string as it came.
        ({"seed": 10**39}, f"seed must be between 0 and 9223372036854775807, not {10**39}"),
        ({"seed": 10**40}, "seed must be between 0 and 9223372036854775807, not 1e+40"),
        ({"seed": 2.0**70}, "seed must be between 0 and 9223372036854775807, not 1.18059e+21"),
        ({"seed": "1e999999999"}, "seed must be between 0 and 9223372036854775807, not 1e999999999"),
        (
            {"colour": 1, "bogus": 2},
            "unknown setting bogus, colour; known: content_layer, device, frame_steps, init, keep_faces, "
            "learning_rate, max_memory, multiscale, normalization, optimizer, pooling, precision, preserve_color, "
            "preview_every, seed, size, steps, style_blend, style_layer_weights, style_layers, style_loss, style_scale, "
            "style_weight, temporal_weight, time_limit, tv_weight, weights",
        ),
        (
            {"bogus": 1, "colour": 2},
            "unknown setting bogus, colour; known: " + ", ".join(sorted(Settings.__dataclass_fields__)),
        ),
        ({"content_layer": "relu9_9"}, f"content_layer: unknown VGG19 layer 'relu9_9'; {_LAYER_NAMES}"),
        ({"style_layers": ("relu9_9",)}, f"style_layers: unknown VGG19 layer 'relu9_9'; {_LAYER_NAMES}"),
        ({"style_layers": ()}, "style_layers is empty: choose at least one style layer"),
        ({"style_layer_weights": (1, "x", 1, 1, 1)}, "style_layer_weights must be a number, not 'x'"),
        ({"style_layer_weights": {1: 2}}, "style_layer_weights must be a list, not {1: 2}"),
        ({"style_layer_weights": (1e9 + 1, 1, 1, 1, 1)}, "style_layer_weights must be between 0 and 1e+09, not 1e+09"),
        ({"style_blend": (1, "x")}, "style_blend must be a number, not 'x'"),
        ({"style_blend": {1: 2}}, "style_blend must be a list, not {1: 2}"),
        ({"style_blend": (1e9 + 1, 1)}, "style_blend must be between 0 and 1e+09, not 1e+09"),
        ({"tv_weight": 1e6 + 1}, "tv_weight must be between 0 and 1e+06, not 1e+06"),
        ({"style_layers": {"relu1_1": 1}}, "style_layers must be a list, not {'relu1_1': 1}"),
        ({"steps": [1]}, "steps must be a number, not [1]"),
    ],
)
def test_each_message_word_for_word(changes, message):
    with pytest.raises(SettingsError) as caught:
        DEFAULT.replace(**changes)
    assert str(caught.value) == message


def test_lists_split_on_commas_and_weights_need_not_sum_to_one():
    # "relu1_1,relu3_1" names two layers inside a list too (one CLI argument); blanks between
    # commas are dropped.
    assert DEFAULT.replace(style_layers=["relu1_1,relu3_1"]).style_layers == ("relu1_1", "relu3_1")
    assert DEFAULT.replace(style_layers=["relu1_1,", " relu2_1"]).style_layers == ("relu1_1", "relu2_1")
    assert DEFAULT.replace(style_blend="1,3").style_blend == (1.0, 3.0)
    assert DEFAULT.replace(style_layer_weights="1,1,1,1,2").style_layer_weights == (1.0, 1.0, 1.0, 1.0, 2.0)
    # Weights are normalised later, so any positive sum is valid, below 1 too.
    assert DEFAULT.replace(style_layer_weights=[0, 0, 0, 0, 0.5]).style_layer_weights == (0, 0, 0, 0, 0.5)
    # L-BFGS's default step size, given explicitly.
    assert DEFAULT.replace(learning_rate=1).learning_rate == 1.0
    assert DEFAULT.replace(style_layer_weights=(0.1,) * 5).style_layer_weights == (0.1,) * 5
    assert DEFAULT.replace(style_layer_weights=(1e9, 0, 0, 0, 0)).style_layer_weights[0] == 1e9
    assert DEFAULT.replace(style_blend=(0.25, 0.5)).style_blend == (0.25, 0.5)


def test_validated_gives_every_field_back_normalised():
    """Strings from forms and the CLI come back as the numbers and names they stand for."""
    s = DEFAULT.replace(
        size="512",
        steps="20",
        style_weight="5",
        content_layer=" relu3_1 ",
        learning_rate="0.5",
        style_scale="2",
        tv_weight="3",
        preview_every="5",
        seed="7",
        time_limit="60",
        max_memory="1.5",
        style_layers=["relu1_1,relu3_1", "relu4_1,"],
        style_layer_weights="1,2 3",
        style_blend="1,2",
        multiscale="off",
        keep_faces="yes",
    )
    assert (s.size, s.steps, s.preview_every, s.seed) == (512, 20, 5, 7)
    assert all(type(v) is int for v in (s.size, s.steps, s.preview_every, s.seed))
    assert (s.style_weight, s.learning_rate, s.style_scale, s.tv_weight, s.time_limit, s.max_memory) == (
        5.0,
        0.5,
        2.0,
        3.0,
        60.0,
        1.5,
    )
    assert all(
        type(v) is float
        for v in (s.style_weight, s.learning_rate, s.style_scale, s.tv_weight, s.time_limit, s.max_memory)
    )
    assert s.content_layer == "relu3_1"
    assert s.style_layers == ("relu1_1", "relu3_1", "relu4_1")  # commas inside items; a blank after one
    assert s.style_layer_weights == (1.0, 2.0, 3.0) and s.style_blend == (1.0, 2.0)
    assert s.multiscale is False and s.keep_faces is True


# --- Numbers too long for text (found by an outside probe) ------------------------------------
# Python turns no int of more than 4300 digits into text (ValueError), so a message that
# echoes one must not try; and no message echoes thousands of digits.

HUGE = 10**5000  # 5001 digits (int("9" * 5000) would itself raise)
NUMERIC = [
    "steps",
    "size",
    "seed",
    "preview_every",
    "style_weight",
    "style_scale",
    "tv_weight",
    "learning_rate",
    "time_limit",
    "max_memory",
]


def _short_message(name: str, value: object) -> None:
    with pytest.raises(SettingsError, match=f"^{name} must be ") as caught:
        DEFAULT.replace(**{name: value})
    text = str(caught.value)
    assert "\n" not in text and len(text) <= 200 and "9" * 100 not in text and "0" * 100 not in text


@pytest.mark.parametrize("name", NUMERIC)
@pytest.mark.parametrize("value", [HUGE, -HUGE, Fraction(HUGE, 3)], ids=["int", "negative-int", "fraction"])
def test_a_number_of_5000_digits_is_a_short_message(name, value):
    _short_message(name, value)  # was Python's ValueError ("Exceeds the limit (4300 digits)...")


@pytest.mark.parametrize("name", NUMERIC)
@pytest.mark.parametrize(
    "value",
    ["9" * 5000, "-" + "9" * 5000, "9" * 5000 + ".5", "1e5000", "١" * 5000],
    ids=["digits", "negative-digits", "digits-and-a-half", "exponent", "arabic-indic-digits"],
)
def test_5000_digits_as_text_are_a_short_message_too(name, value):
    _short_message(name, value)  # text never becomes an int before its range is checked


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"steps": HUGE}, "steps must be between 1 and 5000, not a 5001-digit number"),
        ({"seed": -HUGE}, "seed must be between 0 and 9223372036854775807, not a negative 5001-digit number"),
        ({"style_weight": HUGE}, "style_weight must be a finite number, not a 5001-digit one"),
        ({"style_weight": Fraction(HUGE, 3)}, "style_weight must be a finite number, not a Fraction too long to show"),
        ({"style_layer_weights": [HUGE] * 5}, "style_layer_weights must be a finite number, not a 5001-digit one"),
        ({"style_blend": [1, HUGE]}, "style_blend must be a finite number, not a 5001-digit one"),
        ({"multiscale": HUGE}, "multiscale must be true or false, not a 5001-digit number"),
        ({"init": HUGE}, "init must be one of content, palette, noise, style, not a 5001-digit number"),
        ({"content_layer": HUGE}, "content_layer must be one layer's name, such as relu4_2, not a 5001-digit number"),
        (
            {"style_layers": ["relu1_1", HUGE]},
            "style_layers must be a list of layer names, not one holding a 5001-digit number",
        ),
    ],
)
def test_every_setting_names_a_number_too_long_for_text_by_its_digits(changes, message):
    with pytest.raises(SettingsError) as caught:
        DEFAULT.replace(**changes)
    assert str(caught.value) == message
