import math

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
