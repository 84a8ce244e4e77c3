import pytest

from nst.eta import Eta
from nst.costmodel import CostModel
from nst.schedule import ScalePlan, estimate_seconds, format_seconds, plan_run, plan_scales
from nst.timelimit import (
    BUDGET_MARGIN,
    FINISH_STEPS,
    MIN_COARSE_STEPS,
    MIN_PAINTED_STEPS,
    SETTLED_COARSE_STEPS,
    fit_plan,
    fit_steps,
    limit_note,
)


def test_single_scale_when_small_or_off():
    assert [(s.size, s.steps) for s in plan_scales(128, 50)] == [(128, 50)]
    assert [(s.size, s.steps) for s in plan_scales(512, 50, multiscale=False)] == [(512, 50)]


@pytest.mark.parametrize("size, steps", [(512, 300), (384, 100), (1024, 500), (2048, 200), (300, 9)])
def test_scales_grow_by_about_sqrt2_and_spend_exactly_the_steps(size, steps):
    scales = plan_scales(size, steps)
    assert sum(s.steps for s in scales) == steps
    assert scales[-1].size == size
    assert all(s.steps >= 2 for s in scales)
    for a, b in zip(scales, scales[1:]):
        assert 1.3 < b.size / a.size < 1.6
        assert a.steps >= b.steps  # finer scales get fewer steps


COST = CostModel(step=(0.01, 4.0), scale=(0.1, 4.0), finish=(0.02, 0.5), setup=2.0)


def test_plans_keep_the_aspect_and_skip_scales_too_small_for_the_layers():
    plan = plan_run((640, 480), 512, 200)
    assert plan[-1].wh == (512, 384) and sum(sc.steps for sc in plan) == 200
    thin = plan_run((1000, 100), 512, 200, min_side=32)
    assert all(min(sc.wh) >= 32 for sc in thin) and sum(sc.steps for sc in thin) == 200


def test_estimates_grow_with_size_steps_and_rate():
    est = lambda size, steps, cost=COST: estimate_seconds(plan_run((640, 480), size, steps), cost)  # noqa: E731
    assert est(512, 300) > est(256, 300) > est(256, 100)
    fast = CostModel(step=(0.001, 0.012), scale=(0.01, 0.012))
    assert est(512, 300, fast) < est(512, 300)
    plan = plan_run((640, 480), 512, 300)
    assert estimate_seconds(plan, COST, setup=True) == pytest.approx(estimate_seconds(plan, COST) + 2.0)
    assert estimate_seconds(plan, COST, time_limit=5) == 5


def test_fit_steps_cuts_every_scale_alike_to_the_budget():
    plan = plan_run((640, 480), 512, 300)
    steps, share = fit_steps(plan, COST, estimate_seconds(plan, COST) * 10)
    assert steps == plan[0].steps  # time to spare: no cut
    steps, share = fit_steps(plan, COST, 5.0)
    assert 1 <= steps < plan[0].steps and 0 < share < 1
    # By value: the scales after this one cost their targets and the finish; the steps of
    # every scale are cut by one factor so that the whole fits the budget (less the margin).
    from nst.timelimit import BUDGET_MARGIN

    work = [sc.steps * COST.step_seconds(sc.mpx) for sc in plan]
    later = sum(COST.scale_seconds(sc.mpx) for sc in plan[1:]) + COST.finish_seconds(plan[-1].mpx)
    factor = (5.0 * BUDGET_MARGIN - later) / sum(work)
    assert 0 < factor < 1
    assert steps == int(plan[0].steps * factor) and share == pytest.approx(work[0] / sum(work))
    assert later + factor * sum(work) == pytest.approx(5.0 * BUDGET_MARGIN)  # it fits, to the second
    # A pace twice the model's halves what fits; a budget below the fixed costs leaves one step.
    steps2, _ = fit_steps(plan, COST, 20.0, ratio=2.0)
    steps1, _ = fit_steps(plan, COST, 20.0)
    assert steps2 == int(plan[0].steps * (20.0 * BUDGET_MARGIN - 2 * later) / (2 * sum(work))) < steps1
    assert fit_steps(plan, COST, 0.01) == (1, pytest.approx(work[0] / sum(work)))


def test_the_last_scale_takes_every_step_that_fits_without_the_margin_up_to_its_spare_steps():
    """Nothing but the result follows the last scale: it keeps no margin, and may take the
    steps a limit took out of the plan (``spare``) where they fit; the run's per-step check
    is what stops it before the deadline."""
    from nst.timelimit import BUDGET_MARGIN

    last = [ScalePlan((512, 384), 4)]
    step, finish = COST.step_seconds(last[0].mpx), COST.finish_seconds(last[0].mpx)
    budget = finish + 6.5 * step  # six steps and a half
    assert int((budget * BUDGET_MARGIN - finish) / step) < 6  # with the margin, not six
    assert fit_steps(last, COST, budget) == (4, 1.0)  # no spare steps: the plan's
    assert fit_steps(last, COST, budget, spare=10) == (6, 1.0)  # six fit, of 4 + 10
    assert fit_steps(last, COST, budget, spare=1) == (5, 1.0)  # the plan's and its one spare
    assert fit_steps(last, COST, budget, ratio=2.0, spare=10) == (3, 1.0)  # at half the pace, three
    assert fit_steps(last, COST, 0.0, spare=10) == (1, 1.0)  # at least one


def test_a_generous_limit_gives_its_slack_to_the_current_scale():
    """Far from the deadline, a scale slower than its estimate keeps its steps: its share is the
    budget less the later scales' expected time (the earlier ones' over the margin), not its own estimate."""
    from nst.timelimit import BUDGET_MARGIN

    plan = plan_run((640, 480), 512, 300)
    work = [sc.steps * COST.step_seconds(sc.mpx) for sc in plan]
    later = sum(COST.scale_seconds(sc.mpx) for sc in plan[1:]) + COST.finish_seconds(plan[-1].mpx)
    budget = estimate_seconds(plan, COST) * 10
    steps, share = fit_steps(plan, COST, budget)
    assert steps == plan[0].steps
    # The later scales' expected time comes off: the output size's as it is, the others' over the margin.
    assert share * budget == pytest.approx(budget - later - work[-1] - sum(work[1:-1]) / BUDGET_MARGIN)
    assert share * budget > 5 * work[0]
    # Tight, with the finishing steps kept: the scale's cut steps' time, over the margin.
    budget = later + work[-1] + 0.5 * sum(work[:-1]) / BUDGET_MARGIN
    steps, share = fit_steps(plan, COST, budget)
    assert steps == int(plan[0].steps * 0.5)
    assert share * budget == pytest.approx(0.5 * work[0] / BUDGET_MARGIN)


@pytest.mark.parametrize(
    "steps, cost, budget, ratio",
    [
        (30000, COST, 20.0, 1.0),  # many steps: the factor shows to 4 digits
        (30000, COST, None, 1.0),  # a budget 0.5 s over the fixed costs
        (30000, COST, 20.0, 1.7),
        (300, CostModel(step=(1e-4, 1e-3), scale=(1e-3, 1e-3), finish=(1e-3, 1e-3)), 0.012, 1.0),  # under 1 s of work
    ],
)
def test_fit_steps_by_value(steps, cost, budget, ratio):
    """The rule: the later scales' targets and the finish come off the budget (times the
    margin); what is left is shared by one factor over every scale's steps."""
    from nst.timelimit import BUDGET_MARGIN

    plan = plan_run((640, 480), 512, steps)
    work = [ratio * sc.steps * cost.step_seconds(sc.mpx) for sc in plan]
    later = ratio * (sum(cost.scale_seconds(sc.mpx) for sc in plan[1:]) + cost.finish_seconds(plan[-1].mpx))
    if budget is None:
        budget = (later + 0.5) / BUDGET_MARGIN
    factor = (budget * BUDGET_MARGIN - later) / sum(work)
    assert 0 < factor < 1
    got, share = fit_steps(plan, cost, budget, ratio)
    assert got == max(1, int(plan[0].steps * factor)) and share == pytest.approx(work[0] / sum(work), rel=1e-12)


def test_eta_follows_the_measured_pace():
    plan = [ScalePlan((100, 100), 10)]
    eta = Eta(plan, COST)
    eta.scale_started(0)
    eta.step_done(0, 0.05, first=True)
    eta.step_done(0, 0.05, first=False)
    assert eta.pace == pytest.approx(0.05 / COST.step_seconds(0.01))  # measured over predicted
    eta.work_done -= 0.01  # as after one step
    assert eta.work_done == pytest.approx(0.01) and eta.work_total == pytest.approx(0.1)
    left = eta.seconds_left(0, 1)
    assert left > 0 and eta.seconds_left(0, 9) < left
    assert eta.seconds_left(0, 1, time_limit_left=0.001) <= 0.001  # never past the time limit


def test_format_seconds():
    assert [format_seconds(x) for x in (0.2, 42, 187, 7500)] == ["<1 s", "42 s", "3 min 07 s", "2 h 05 min"]


def test_plan_run_takes_the_decay_of_its_scales():
    from nst.schedule import STEP_DECAY, plan_run, plan_scales

    default = plan_run((640, 480), 1024, 300)
    assert [p.steps for p in default] == [sc.steps for sc in plan_scales(1024, 300, decay=STEP_DECAY)]
    even = [p.steps for p in plan_run((640, 480), 1024, 300, decay=1.0)]
    assert sum(even) == 300 and max(even) - min(even) <= len(even)  # equal steps, give or take rounding
    halving = [p.steps for p in plan_run((640, 480), 1024, 300, decay=0.5)]
    assert all(a > b for a, b in zip(halving, halving[1:]))


# A 2-core CPU's costs at about the measured rate (0.4 s per megapixel-step in bf16).
CPU_COST = CostModel(step=(0.01, 0.4), scale=(0.1, 0.8), finish=(0.02, 0.3), setup=1.0)
WH = (640, 480)  # at 512 px: (512, 384); lowered by √2 at a time: 362, 256, 181, 128 px


def test_a_plan_that_fits_is_left_as_it_is():
    fitted = fit_plan((640, 480), 256, 200, CPU_COST, budget=1000)
    assert fitted.plan == plan_run((640, 480), 256, 200) and fitted.note is None


def test_a_time_limit_cuts_every_scale_alike_and_says_how_many_steps_it_kept():
    full = plan_run((640, 480), 512, 200)
    budget = estimate_seconds(full, CPU_COST) / 2
    fitted = fit_plan((640, 480), 512, 200, CPU_COST, budget)
    assert estimate_seconds(fitted.plan, CPU_COST) <= budget
    assert [sc.wh for sc in fitted.plan] == [sc.wh for sc in full]  # same scales, ends at the output size
    assert 80 <= fitted.steps < 200
    # The most that fits: one step more does not.
    assert estimate_seconds(plan_run((640, 480), 512, fitted.steps + 1), CPU_COST) > budget
    assert fitted.note == f"kept {fitted.steps} of the plan's 200 steps"


def test_a_small_step_count_is_never_raised_by_the_fitting():
    fitted = fit_plan((640, 480), 512, 10, CPU_COST, budget=1000)
    assert fitted.steps == 10 and fitted.note is None


def test_limit_note_says_too_few_to_paint_at_the_output_size():
    assert limit_note(200, 256, 10, 256) == "kept 10 of the plan's 200 steps, too few to paint much"
    assert limit_note(200, 256, 120, 256) == "kept 120 of the plan's 200 steps"


def test_format_seconds_at_each_boundary():
    # Each unit starts at its boundary: 1 s, 1 min, 1 h; below zero is "<1 s".
    cases = {
        -5: "<1 s",
        0.999: "<1 s",
        1.0: "1 s",
        59.4: "59 s",
        60: "1 min 00 s",
        120: "2 min 00 s",
        3599: "59 min 59 s",
        3600: "1 h 00 min",
        7200: "2 h 00 min",
        7260: "2 h 01 min",
    }
    assert {x: format_seconds(x) for x in cases} == cases


# Three scales for the ETA, with COST: mpx 0.01, 0.02, 0.04; a step 0.05, 0.09, 0.17 s;
# a scale's targets 0.14, 0.18, 0.26 s; the finish (of the last) 0.02 + 0.5 × 0.04 = 0.04 s.
ETA_PLAN = [ScalePlan((100, 100), 10), ScalePlan((200, 100), 5), ScalePlan((200, 200), 3)]


def _clock(monkeypatch, times):
    """A fake perf_counter for nst.eta, returning ``times`` in order."""
    import types

    import nst.eta

    ticks = iter(times)
    monkeypatch.setattr(nst.eta, "time", types.SimpleNamespace(perf_counter=lambda: next(ticks)))


def test_eta_by_value_before_any_step():
    eta = Eta(ETA_PLAN, COST)
    assert eta.work_total == pytest.approx(0.01 * 10 + 0.02 * 5 + 0.04 * 3) and eta.work_done == 0
    assert eta.pace == 1.0 and eta.scale_pace == 1.0
    # Scale 0 with 3 steps done: 7 steps of 0.05, the finish, then scale 1's targets and first
    # step (0.18 + 0.09) and 4 more steps, scale 2's (0.26 + 0.17) and 2 more.
    assert eta.seconds_left(0, 3) == pytest.approx(7 * 0.05 + 0.04 + 4 * 0.09 + 2 * 0.17 + 0.27 + 0.43)
    # Scale 1 done (or past its steps): only scale 2 and the finish are left.
    assert eta.seconds_left(1, 5) == pytest.approx(0.04 + 2 * 0.17 + 0.43)
    assert eta.seconds_left(1, 7) == pytest.approx(0.04 + 2 * 0.17 + 0.43)
    assert eta.seconds_left(2, 3) == pytest.approx(0.04)


def test_eta_keeps_warm_steps_and_scale_starts_apart(monkeypatch):
    # Scale 0 starts at t=10 and its first step ends at 10.57; scale 1 starts at 20, its
    # first step ends at 20.54.
    _clock(monkeypatch, [10.0, 10.57, 20.0, 20.54])
    eta = Eta(ETA_PLAN, COST)
    eta.scale_started(0)
    eta.step_done(0, 99.0, first=True)  # a first step's own seconds are not used: the clock is
    # Only scale starts measured: both paces are theirs, 0.57 s for 0.14 + 0.05 predicted.
    assert eta.pace == pytest.approx(0.57 / 0.19) and eta.scale_pace == pytest.approx(0.57 / 0.19)
    eta.step_done(0, 0.10, first=False)
    eta.scale_started(1)
    eta.step_done(1, 99.0, first=True)
    eta.step_done(1, 0.36, first=False)
    assert eta.work_done == pytest.approx(2 * 0.01 + 2 * 0.02)
    pace = (0.10 + 0.36) / (0.05 + 0.09)  # warm steps: measured over predicted
    scale_pace = (0.57 + 0.54) / ((0.14 + 0.05) + (0.18 + 0.09))
    assert eta.pace == pytest.approx(pace) and eta.scale_pace == pytest.approx(scale_pace)
    left = 3 * 0.09 * pace + 0.04 * pace + 2 * 0.17 * pace + (0.26 + 0.17) * scale_pace
    assert eta.seconds_left(1, 2) == pytest.approx(left)
    assert eta.seconds_left(1, 2, time_limit_left=100.0) == pytest.approx(left)
    assert eta.seconds_left(1, 2, time_limit_left=0.5) == 0.5 < left
    assert eta.seconds_left(1, 2, time_limit_left=-1.0) == 0.0


def test_eta_paces_have_a_floor_and_ignore_unmeasured_steps():
    eta = Eta(ETA_PLAN, COST)
    eta.step_done(0, 0.0, first=False)  # measured nothing: no pace yet
    assert eta.pace == 1.0
    eta.step_done(0, 1e-12, first=False)
    assert eta.pace == 1e-3 and eta.scale_pace == 1e-3  # no scale measured: the steps' pace


def test_eta_replan_changes_one_scale_and_the_work_left():
    eta = Eta(ETA_PLAN, COST)
    eta.replan(1, 2)
    assert eta.plan == [ETA_PLAN[0], ScalePlan((200, 100), 2), ETA_PLAN[2]]
    assert eta.work_total == pytest.approx(0.1 + 0.02 * 2 + 0.12)
    assert eta.seconds_left(1, 0) == pytest.approx(2 * 0.09 + 0.04 + 2 * 0.17 + 0.43)


@pytest.mark.parametrize("steps", [1, 2, 3, 57, 199])
def test_most_steps_finds_the_largest_count_that_fits_exactly(steps):
    from nst.timelimit import _most_steps

    budget = estimate_seconds(plan_run((640, 480), 512, steps), CPU_COST)  # n steps fit to the last bit
    got = _most_steps((640, 480), 512, 200, CPU_COST, budget)
    assert got == plan_run((640, 480), 512, steps)
    assert _most_steps((640, 480), 512, 200, CPU_COST, budget * 0.999) in (None, plan_run((640, 480), 512, steps - 1))


def test_most_steps_plans_with_the_given_scales():
    from nst.timelimit import _most_steps

    single = plan_run((640, 480), 512, 60, multiscale=False)
    got = _most_steps((640, 480), 512, 200, CPU_COST, estimate_seconds(single, CPU_COST), multiscale=False)
    assert got == single and len(got) == 1
    halving = plan_run((640, 480), 1024, 60, decay=0.5)
    assert _most_steps((640, 480), 1024, 200, CPU_COST, estimate_seconds(halving, CPU_COST), decay=0.5) == halving


def test_fit_plan_keeps_a_plan_that_fits_to_the_last_bit_and_its_options():
    full = plan_run(WH, 512, 200)
    assert fit_plan(WH, 512, 200, CPU_COST, estimate_seconds(full, CPU_COST)) == fit_plan(WH, 512, 200, CPU_COST, 1e9)
    assert fit_plan(WH, 512, 200, CPU_COST, estimate_seconds(full, CPU_COST)).plan == full
    assert fit_plan(WH, 512, 200, CPU_COST, 1e9, multiscale=False).plan == [ScalePlan((512, 384), 200)]
    assert fit_plan(WH, 1024, 200, CPU_COST, 1e9, decay=0.5).plan == plan_run(WH, 1024, 200, decay=0.5)
    # A content one pixel high still gets its coarse scales: the default min_side is 1.
    thin = plan_run((2000, 1), 512, 200)
    assert len(thin) > 1 and fit_plan((2000, 1), 512, 200, CPU_COST, 1e9).plan == thin


@pytest.mark.parametrize(
    "size, steps, expected",
    [
        # start 192: log√2(512/192) = 2.83, less 0.25, rounded up: 3 scales below 512 px. Weights
        # 0.85^-3, 0.85^-2, 0.85^-1, 1 give 94.1, 80.0, 68.0, 57.8 of 300 steps; the one step
        # lost to rounding down goes to the first scale.
        (512, 300, [(181, 95), (256, 80), (362, 68), (512, 57)]),
        (512, 8, [(181, 2), (256, 2), (362, 2), (512, 2)]),  # 8 steps are enough to split, 2 each
        (512, 7, [(512, 7)]),  # fewer than 8: one scale
        (2048, 8, [(2048, 8)]),  # 8 scales of at least 2 steps each would need 16: one scale
        # log√2(419/192) - 0.25 = 2.0017: just past 2, so 4 scales (419 / √2², √2² a hair over 2 in floats).
        (419, 100, [(148, 33), (209, 26), (296, 22), (419, 19)]),
        # start = half the size, 150 (not 128): 3 scales.
        (300, 50, [(150, 20), (212, 16), (300, 14)]),
        (256, 50, [(128, 20), (181, 16), (256, 14)]),  # start 128: 256 px is past 1.2 × 128
        (150, 50, [(150, 50)]),  # 150 ≤ 1.2 × 128: too close to the start for a second scale
    ],
)
def test_plan_scales_by_value(size, steps, expected):
    assert [(s.size, s.steps) for s in plan_scales(size, steps)] == expected


def test_long_side_keeps_at_least_one_pixel_each_way():
    from nst.schedule import long_side

    assert long_side((640, 480), 512) == (512, 384)
    assert long_side((2000, 1), 512) == (512, 1) and long_side((1, 2000), 512) == (1, 512)


def test_plan_run_merges_scales_too_small_for_the_layers_by_value():
    # plan_scales(512, 200): 181, 256, 362, 512 px with 64, 53, 45, 38 steps.
    assert plan_run(WH, 512, 200) == [
        ScalePlan((181, 136), 64),
        ScalePlan((256, 192), 53),
        ScalePlan((362, 272), 45),
        ScalePlan((512, 384), 38),
    ]
    # 181 px is 136 px high, below 192: its steps move on to 256 px, which is 192 px high.
    assert plan_run(WH, 512, 200, min_side=192) == [
        ScalePlan((256, 192), 117),
        ScalePlan((362, 272), 45),
        ScalePlan((512, 384), 38),
    ]
    assert plan_run(WH, 512, 200, min_side=300) == [ScalePlan((512, 384), 200)]
    assert plan_run(WH, 512, 200, min_side=400) == [ScalePlan((512, 384), 200)]  # the output is kept anyway
    assert plan_run(WH, 512, 200, multiscale=False) == [ScalePlan((512, 384), 200)]
    # A content one pixel high keeps its scales by default (min_side 1).
    assert [sc.wh for sc in plan_run((2000, 1), 512, 200)] == [(181, 1), (256, 1), (362, 1), (512, 1)]


def test_cost_model_and_estimate_by_value():
    # COST: a step 0.01 + 4 s/Mpx, a scale's targets 0.1 + 4 s/Mpx, the finish 0.02 + 0.5 s/Mpx.
    assert (COST.step_seconds(0.5), COST.scale_seconds(0.5), COST.finish_seconds(0.5)) == pytest.approx(
        (2.01, 2.1, 0.27)
    )
    # 0.125 Mpx, 2 steps: 0.6 + 2 × 0.51; then 0.5 Mpx, 3 steps: 2.1 + 3 × 2.01; then the finish at 0.5 Mpx.
    plan = [ScalePlan((500, 250), 2), ScalePlan((1000, 500), 3)]
    assert estimate_seconds(plan, COST) == pytest.approx(1.62 + 8.13 + 0.27)
    assert estimate_seconds(plan, COST, setup=True) == pytest.approx(10.02 + 2.0)
    assert estimate_seconds(plan, COST, setup=True, time_limit=5) == pytest.approx(7.0)


def test_cost_model_prior_and_measured(monkeypatch):
    import nst.costs
    from nst.costs import cost_model, remember_cost
    from nst.schedule import megapixels

    monkeypatch.setattr(nst.costs, "_MEASURED", {})
    assert cost_model("cpu", "bf16", 0.4) == CostModel(step=(0.01, 0.4), scale=(0.05, 0.4))
    assert cost_model("cuda", "bf16", 0.02) == CostModel(step=(0.005, 0.02), scale=(0.05, 0.02))
    remember_cost("cpu", "fp32", COST)
    assert cost_model("cpu", "fp32", 0.4) is COST and cost_model("cpu", "bf16", 0.4).step == (0.01, 0.4)
    assert megapixels(1000) == 0.75 and megapixels(2000, 0.5) == 2.0  # exact in floats


def test_the_first_scale_aims_at_128_px_at_least():
    # 198 px aims at 128 px: log√2(198 / 128) = 1.26 → two halvings by √2, the first 99 px
    # (0.77× of 128, the lowest it can be); 400 px aims at 192 px (200 is within 1.09×).
    assert [sc.size for sc in plan_scales(198, 100)] == [99, 140, 198]
    assert [sc.size for sc in plan_scales(400, 100)] == [200, 283, 400]


OUT = (512, 384)


def _steps_at(plan, wh):
    return sum(sc.steps for sc in plan if sc.wh == wh)


def test_a_short_limit_cuts_the_scales_alike_while_the_output_keeps_its_finishing_steps():
    budget = 40 * CPU_COST.step_seconds(OUT[0] * OUT[1] / 1e6)  # about 40 steps at the output size
    fitted = fit_plan(WH, 512, 200, CPU_COST, budget)
    assert estimate_seconds(fitted.plan, CPU_COST) <= budget
    assert [sc.wh for sc in fitted.plan] == [sc.wh for sc in plan_run(WH, 512, 200)]  # every scale, to the output
    assert fitted.plan == plan_run(WH, 512, fitted.steps) and fitted.plan[-1].steps >= FINISH_STEPS
    assert estimate_seconds(plan_run(WH, 512, fitted.steps + 1), CPU_COST) > budget  # the most that fit


def test_a_shorter_limit_works_at_a_smaller_size_then_finishes_at_the_output_size():
    # Cut alike, the output would keep fewer than FINISH_STEPS: a working size's scales
    # take the coarse steps, and the output size its finishing pass.
    out_mpx = OUT[0] * OUT[1] / 1e6
    finish = CPU_COST.scale_seconds(out_mpx) + FINISH_STEPS * CPU_COST.step_seconds(out_mpx)
    budget = estimate_seconds(plan_run(WH, 256, 2 * SETTLED_COARSE_STEPS), CPU_COST) + finish
    budget += CPU_COST.finish_seconds(out_mpx)
    assert plan_run(WH, 512, 200)[-1].wh == OUT
    fitted = fit_plan(WH, 512, 200, CPU_COST, budget)
    assert estimate_seconds(fitted.plan, CPU_COST) <= budget
    *coarse, last = fitted.plan
    assert last == ScalePlan(OUT, FINISH_STEPS)
    working = max(coarse[-1].wh)
    assert working < 512 and coarse == plan_run(WH, working, sum(sc.steps for sc in coarse))
    assert sum(sc.steps for sc in coarse) >= SETTLED_COARSE_STEPS
    assert fitted.note == f"kept {fitted.steps} of the plan's 200 steps"
    # The largest working size that keeps SETTLED_COARSE_STEPS: one √2 larger does not.
    room = budget - finish - CPU_COST.finish_seconds(out_mpx)
    larger = round(working * 2**0.5)
    if larger < 512:
        assert estimate_seconds(plan_run(WH, larger, SETTLED_COARSE_STEPS), CPU_COST) > room


def test_finishing_steps_come_before_settled_coarse_steps():
    # Room for every finishing step and a few coarse steps at the smallest size, not for
    # SETTLED_COARSE_STEPS there: the finishing steps stay, the coarse ones give way.
    out_mpx = OUT[0] * OUT[1] / 1e6
    finish = CPU_COST.scale_seconds(out_mpx) + FINISH_STEPS * CPU_COST.step_seconds(out_mpx)
    finish += CPU_COST.finish_seconds(out_mpx)
    # (The budget keeps the margin; the finishing steps do not, the coarse ones do.)
    budget = BUDGET_MARGIN * finish
    budget += estimate_seconds(plan_run(WH, 128, (MIN_COARSE_STEPS + SETTLED_COARSE_STEPS) // 2), CPU_COST)
    fitted = fit_plan(WH, 512, 200, CPU_COST, budget)
    *coarse, last = fitted.plan
    assert last == ScalePlan(OUT, FINISH_STEPS)
    assert max(coarse[-1].wh) == 128 and MIN_COARSE_STEPS <= sum(sc.steps for sc in coarse) < SETTLED_COARSE_STEPS


def test_finishing_steps_give_way_one_by_one_before_the_output_size_does():
    # Room for the coarse steps and 2 finishing steps, not 3.
    out_step = CPU_COST.step_seconds(0.196608)
    base = estimate_seconds(plan_run(WH, 128, MIN_COARSE_STEPS), CPU_COST) + CPU_COST.scale_seconds(0.196608)
    base += CPU_COST.finish_seconds(0.196608)
    coarse = estimate_seconds(plan_run(WH, 128, MIN_COARSE_STEPS), CPU_COST)
    fitted = fit_plan(WH, 512, 200, CPU_COST, coarse + BUDGET_MARGIN * (base - coarse + 2.5 * out_step))
    assert fitted.plan[-1] == ScalePlan(OUT, 2)
    assert max(fitted.plan[-2].wh) < 512 and sum(sc.steps for sc in fitted.plan[:-1]) >= MIN_COARSE_STEPS


def test_when_not_one_finishing_step_fits_the_working_size_is_upsampled():
    # Less than the targets and one step at 512 px: the most steps that fit at the
    # largest working size where any fit, upsampled at the end.
    budget = estimate_seconds(plan_run(WH, 362, 3), CPU_COST)
    fitted = fit_plan(WH, 512, 200, CPU_COST, budget)
    assert fitted.plan == plan_run(WH, 362, 3)
    assert fitted.note == "too short for 200 steps at 512 px: 3 steps at 362 px, upsampled to 512 px"


def test_when_nothing_fits_the_cheapest_plan_is_one_step_at_the_smallest_size():
    fitted = fit_plan(WH, 512, 200, CPU_COST, budget=0.001)
    assert fitted.plan == plan_run(WH, 128, 1)
    assert fitted.note == "too short for 200 steps at 512 px: 1 step at 128 px, upsampled to 512 px"


def test_fit_plan_works_no_smaller_than_the_deepest_layer_allows():
    budget = 12 * CPU_COST.step_seconds(0.196608)
    for min_side in (1, 96, 100):
        fitted = fit_plan(WH, 512, 200, CPU_COST, budget, min_side=min_side)
        assert min(min(sc.wh) for sc in fitted.plan) >= min_side
        assert fitted.plan[-1].wh == OUT
    assert min(fit_plan(WH, 512, 200, CPU_COST, 0.001, min_side=100).plan[-1].wh) >= 100


def test_fit_plan_cuts_and_lowers_single_scale_plans_as_single_scales():
    one = lambda size, n: plan_run(WH, size, n, multiscale=False)  # noqa: E731
    budget = estimate_seconds(one(512, 100), CPU_COST)
    assert fit_plan(WH, 512, 200, CPU_COST, budget, multiscale=False).plan == one(512, 100)
    budget = estimate_seconds(one(512, 3), CPU_COST)  # few steps, still at the output size
    assert fit_plan(WH, 512, 200, CPU_COST, budget, multiscale=False).plan == one(512, 3)
    budget = estimate_seconds(one(362, 2), CPU_COST)
    assert fit_plan(WH, 512, 200, CPU_COST, budget, multiscale=False).plan == one(362, 2)
    # Room for a working size's coarse steps and a finishing pass: still one scale, as asked.
    # (Fewer than FINISH_STEPS fit at 512 px, and 8 coarse steps and one there would.)
    budget = estimate_seconds(one(512, 6), CPU_COST)
    assert fit_plan(WH, 512, 200, CPU_COST, budget, multiscale=False).plan == one(512, 6)


def test_limit_note_says_too_few_below_the_smallest_finished_plan():
    assert MIN_PAINTED_STEPS == SETTLED_COARSE_STEPS + 3
    assert limit_note(200, 256, MIN_PAINTED_STEPS, 256) == f"kept {MIN_PAINTED_STEPS} of the plan's 200 steps"
    assert limit_note(200, 256, MIN_PAINTED_STEPS - 1, 256).endswith(", too few to paint much")
    assert limit_note(10, 256, 9, 256) == "kept 9 of the plan's 10 steps, too few to paint much"
    assert limit_note(10, 256, 10, 256) == "kept 10 of the plan's 10 steps"


def test_fit_steps_keeps_the_finishing_steps_while_the_earlier_scales_can_give_way():
    from nst.timelimit import BUDGET_MARGIN

    plan = [ScalePlan((181, 136), 20), ScalePlan((362, 272), 6), ScalePlan(OUT, FINISH_STEPS)]
    work = [sc.steps * COST.step_seconds(sc.mpx) for sc in plan]
    later = sum(COST.scale_seconds(sc.mpx) for sc in plan[1:]) + COST.finish_seconds(plan[-1].mpx)
    # Room for the finishing steps and half the earlier ones: the earlier ones are cut alike.
    budget = later + work[-1] + 0.505 * sum(work[:-1]) / BUDGET_MARGIN
    steps, share = fit_steps(plan, COST, budget)
    assert steps == 10 and 0 < share < 1
    # Not even the finishing steps and a step here: every scale is cut alike.
    budget = (later + 0.5 * work[-1]) / BUDGET_MARGIN
    steps, _ = fit_steps(plan, COST, budget)
    assert steps == max(1, int(20 * 0.5 * work[-1] / sum(work)))
