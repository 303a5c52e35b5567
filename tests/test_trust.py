"""Guarantees that a plausible wrong edit would break: each test names the edit it exists to catch.

Fast (no model): benchmarks/mutations.py runs this file against each of its code changes.
"""
import numpy as np
import pytest
from hatcat_stier.lenses import bootstrap_ci, calibration_score, quality_report
from hatcat_stier.testing import gaussian_pool
from hatcat_stier.trainer import ExponentialAdaptiveTrainer, TrainerCallback

class Uncalibrated(ExponentialAdaptiveTrainer):
    "Every fit measures F1 1.0 and calibration 0.5: only the calibration gate can stop graduation."
    def _fit_measure(self, X, y, *args):
        lens, metrics = super()._fit_measure(X, y, *args)
        return lens, {**metrics, "test_f1": 1.0, "calibration": 0.5}

def test_graduation_needs_the_calibration_gate():  # catches: graduation on F1 alone
    pool = gaussian_pool(6.0, seed=0)
    gated = Uncalibrated(max_iterations=4).train_concept("x", **pool)["activation"]
    assert not gated["graduated"] and gated["tier"] == "F" and gated["iterations"] == 4
    loose = Uncalibrated(max_iterations=4, validation_mode="loose").train_concept("x", **pool)["activation"]
    assert loose["graduated"] and loose["iterations"] == 1

def test_a_callback_that_overrides_nothing_changes_nothing():  # the base class's events really are no-ops
    pool = gaussian_pool(3.0, seed=1)
    drop = lambda r: {k: v for k, v in r.items() if k != "wall_seconds"} | {
        "history": [{k: v for k, v in h.items() if k != "seconds"} for h in r["history"]]}
    plain = ExponentialAdaptiveTrainer().train_concept("x", **pool)["activation"]
    watched = ExponentialAdaptiveTrainer(callbacks=[TrainerCallback()]).train_concept("x", **pool)["activation"]
    assert drop(plain) == drop(watched)

def noisy_scores(n=200, seed=0):
    "Labels, imperfect scores and two negative groups: one easy to tell from the positives, one not."
    rng = np.random.default_rng(seed)
    y = (np.arange(n) < n // 2).astype(int)
    groups = np.where(y == 1, "positive", np.where(np.arange(n) % 2, "easy", "hard"))
    shift = np.where(y == 1, 1.0, np.where(groups == "easy", -3.0, 0.6))
    return y, 1 / (1 + np.exp(-(shift + rng.normal(size=n)))), groups

def test_bootstrap_resamples():  # catches: resampling replaced by the original rows (every interval a point)
    y, p, g = noisy_scores()
    ci = bootstrap_ci(y, p, g, n_resamples=500)
    for lo, hi in ci.values(): assert hi - lo > 0.02

def test_intervals_are_95_percent():  # catches: a 90 % interval reported as 95 %
    y, p, g = noisy_scores()
    report = quality_report(y, p, g, n_resamples=2000)
    assert report["f1_ci"] == bootstrap_ci(y, p, g, n_resamples=2000, level=0.95)["f1"]
    wide, narrow = (bootstrap_ci(y, p, g, n_resamples=2000, level=lv)["f1"] for lv in (0.95, 0.90))
    ratio = (wide[1] - wide[0]) / (narrow[1] - narrow[0])
    assert 1.1 < ratio < 1.3, ratio  # normal quantiles: 1.96 / 1.645 = 1.19

def test_calibration_interval_is_of_the_minimum_over_groups():  # catches: the interval of the mean over groups
    y, p, g = noisy_scores()
    report = quality_report(y, p, g)
    assert report["calibration"] == calibration_score(y, p, g)
    lo, hi = report["calibration_ci"]
    assert lo <= report["calibration"] <= hi, (lo, report["calibration"], hi)

def test_other_simplexes_never_supply_the_targets_own_words():  # catches: the other-simplex strip removed
    from hatcat_stier.data_pool import _sources, as_material, generic_material
    target = as_material({"label": "joy", "lexicon": ["joy", "delight"], "situations": ["a gift"]},
                         "positive_pole", "a")
    sibling = as_material({"label": "calm", "lexicon": ["calm", "delight"]}, "neutral_homeostasis", "a")
    other = as_material({"label": "thrill", "lexicon": ["thrill", "Delight"], "situations": ["A gift"]},
                        "positive_pole", "b")
    sources = _sources(target, [sibling, other], generic_material(), (0.4, 0.4, 0.2))
    assert {tag for tag, _, _ in sources} >= {"other_simplex", "sibling:neutral_homeostasis"}
    for tag, materials, _ in sources:
        for m in materials:
            assert not {e.casefold() for e in m["lexicon"] + m["situations"]} & {"delight", "a gift"}, tag

@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_results_files_are_strict_json(tmp_path, value):  # catches: NaN written as a bare token
    import json
    from hatcat_stier.storage import write_json
    text = write_json(tmp_path / "r.json", {"f1": value}).read_text()
    assert json.loads(text, parse_constant=lambda token: pytest.fail(f"non-JSON token {token}")) == {"f1": None}
