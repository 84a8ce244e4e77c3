import pytest

from nst.schedule import (
    MIN_PAINTED_STEPS, CostModel, Eta, ScalePlan, estimate_seconds, fit_plan, fit_steps, format_seconds, limit_note,
    plan_run, plan_scales,
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
    from nst.schedule import BUDGET_MARGIN

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


@pytest.mark.parametrize("steps, cost, budget, ratio", [
    (30000, COST, 20.0, 1.0),  # many steps: the factor shows to 4 digits
    (30000, COST, None, 1.0),  # a budget 0.5 s over the fixed costs
    (30000, COST, 20.0, 1.7),
    (300, CostModel(step=(1e-4, 1e-3), scale=(1e-3, 1e-3), finish=(1e-3, 1e-3)), 0.012, 1.0),  # under 1 s of work
])
def test_fit_steps_by_value(steps, cost, budget, ratio):
    """The rule: the later scales' targets and the finish come off the budget (times the
    margin); what is left is shared by one factor over every scale's steps."""
    from nst.schedule import BUDGET_MARGIN

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


def test_a_limit_too_short_to_paint_at_the_size_lowers_the_working_size():
    out = plan_run((640, 480), 512, 200)[-1].wh
    budget = 20 * CPU_COST.step_seconds(out[0] * out[1] / 1e6)  # about 20 steps at the output size
    fitted = fit_plan((640, 480), 512, 200, CPU_COST, budget)
    assert estimate_seconds(fitted.plan, CPU_COST) <= budget
    assert max(fitted.plan[-1].wh) < 512  # a smaller working size, upsampled at the end
    assert fitted.steps >= MIN_PAINTED_STEPS  # enough steps to paint
    working = max(fitted.plan[-1].wh)
    assert fitted.note == f"too short for 200 steps at 512 px: {fitted.steps} steps at {working} px, upsampled to 512 px"


def test_when_nothing_fits_the_cheapest_plan_is_one_step_at_the_smallest_size():
    fitted = fit_plan((640, 480), 512, 200, CPU_COST, budget=0.001)
    assert fitted.steps == 1 and max(fitted.plan[-1].wh) >= 128 and max(fitted.plan[-1].wh) < 512
    working = max(fitted.plan[-1].wh)
    assert fitted.note == f"too short for 200 steps at 512 px: 1 step at {working} px, upsampled to 512 px"


def test_a_small_step_count_is_never_raised_by_the_fitting():
    fitted = fit_plan((640, 480), 512, 10, CPU_COST, budget=1000)
    assert fitted.steps == 10 and fitted.note is None


def test_limit_note_says_too_few_to_paint_at_the_output_size():
    assert limit_note(200, 256, 12, 256) == "kept 12 of the plan's 200 steps, too few to paint much"
    assert limit_note(200, 256, 120, 256) == "kept 120 of the plan's 200 steps"
