#!/usr/bin/python3
"""Tests for tools/sgdstats.py, the best-learning-rate rule (sgdresults.select_best_lr) and the
statistics sections of report.py (including the gradient noise scale, gradient/weight norms and
L-BFGS as a method, on result dicts from fakeruns.py), each checked against an independent
oracle: numbers worked out by hand here, brute force, a Monte-Carlo estimate, or a textbook
formula. No sgdbench binary needed.

Usage: /usr/bin/python3 tests/test_stats.py
"""
import itertools
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import sgdresults as R  # noqa: E402
import sgdstats as S  # noqa: E402
from fakeruns import grad_history, noise_history, run, write_runs  # noqa: E402  (tests/ is on the path)


class BootstrapTest(unittest.TestCase):
    def test_two_values_by_hand(self):
        # Resampling [1, 2] twice gives means 1, 1.5, 2 with probabilities 1/4, 1/2, 1/4:
        # the 2.5% and 97.5% percentiles are 1 and 2.
        self.assertEqual(S.bootstrap_ci([1, 2], n=4000), (1.0, 2.0))

    def test_degenerate_inputs(self):
        self.assertEqual(S.bootstrap_ci([7.5]), (7.5, 7.5))
        self.assertIsNone(S.bootstrap_ci([]))
        self.assertIsNone(S.bootstrap_ci([None, float("nan")]))
        self.assertEqual(S.bootstrap_ci([3, 3, 3, None]), (3.0, 3.0))

    def test_deterministic_for_a_seed(self):
        x = [0.81, 0.79, 0.84, 0.80, 0.77, 0.812, 0.795, 0.838, 0.803, 0.7712, 0.7999, 0.8181]
        self.assertEqual(S.bootstrap_ci(x, seed=3), S.bootstrap_ci(x, seed=3))
        self.assertNotEqual(S.bootstrap_ci(x, seed=3), S.bootstrap_ci(x, seed=4))
        lo, hi = S.bootstrap_ci(x)
        self.assertTrue(min(x) <= lo < sum(x) / len(x) < hi <= max(x))

    def test_other_statistic(self):
        x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 100]
        lo, hi = S.bootstrap_ci(x, stat=np.median)
        # 6 or more of 10 draws hitting 100 has probability < 0.002, so the median's interval stays
        # within 1..9, while the mean's upper end is pulled far up by the outlier.
        self.assertGreaterEqual(lo, 1)
        self.assertLessEqual(hi, 9)
        self.assertGreater(S.bootstrap_ci(x)[1], 20)

    def test_covers_the_true_mean_in_most_trials(self):
        rng = random.Random(12)
        trials, covered = 300, 0
        for t in range(trials):
            x = [rng.gauss(5.0, 2.0) for _ in range(30)]
            lo, hi = S.bootstrap_ci(x, n=2000, seed=t)
            covered += lo <= 5.0 <= hi
        # A 95% interval (percentile bootstrap, n = 30: slightly narrow) covers 5.0 in about 93% of trials.
        self.assertGreater(covered / trials, 0.88)
        self.assertLess(covered / trials, 0.99)


def u_by_pairs(a, b):
    return sum(1.0 if x > y else 0.5 if x == y else 0.0 for x in a for y in b)


class CompareTest(unittest.TestCase):
    def test_u_counted_over_pairs(self):
        rng = random.Random(5)
        for _ in range(20):
            a = [rng.randint(0, 9) for _ in range(rng.randint(1, 9))]
            b = [rng.randint(0, 9) for _ in range(rng.randint(1, 9))]
            c = S.compare(a, b)
            u = u_by_pairs(a, b)
            self.assertEqual(c["u"], u)
            self.assertAlmostEqual(c["cles"], u / (len(a) * len(b)))
            self.assertAlmostEqual(c["rank_biserial"], 2 * u / (len(a) * len(b)) - 1)

    def test_exact_p_by_hand(self):
        # Complete separation: only 2 of the C(6,3) = 20 (C(10,5) = 252) rank splits are as extreme.
        c = S.compare([1, 2, 3], [4, 5, 6])
        self.assertAlmostEqual(c["p_mw"], 2 / 20)
        self.assertEqual((c["u"], c["cles"], c["rank_biserial"]), (0.0, 0.0, -1.0))
        c = S.compare([316, 330, 301, 322, 340], [178, 170, 190, 181, 175])
        self.assertAlmostEqual(c["p_mw"], 2 / 252)
        self.assertEqual(c["rank_biserial"], 1.0)
        self.assertEqual((c["n_a"], c["n_b"], c["mean_a"]), (5, 5, 321.8))

    def test_exact_p_by_enumeration(self):
        a, b = [1.1, 3.5, 2.2, 7.0], [4.1, 5.3, 6.2, 8.4, 9.9]
        u = u_by_pairs(a, b)
        pooled = a + b
        dist = [u_by_pairs(c, [v for v in pooled if v not in c]) for c in itertools.combinations(pooled, len(a))]
        mu = len(a) * len(b) / 2
        p = sum(abs(d - mu) >= abs(u - mu) for d in dist) / len(dist)
        self.assertAlmostEqual(S.compare(a, b)["p_mw"], p)

    def test_normal_approximation_with_ties(self):
        a = [1, 2, 2, 3, 3, 3, 4, 5, 5, 6]
        b = [3, 4, 4, 5, 6, 6, 7, 7, 8, 9]
        n1, n2, n = len(a), len(b), len(a) + len(b)
        u = u_by_pairs(a, b)
        ties = sum(t ** 3 - t for t in ((a + b).count(v) for v in set(a + b)))
        sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
        z = (abs(u - n1 * n2 / 2) - 0.5) / sigma  # continuity correction
        self.assertAlmostEqual(S.compare(a, b)["p_mw"], math.erfc(z / math.sqrt(2)), places=10)

    def test_welch_by_formula(self):
        a, b = [0.81, 0.79, 0.84, 0.80], [0.75, 0.78, 0.70, 0.77, 0.74]
        ma, mb = sum(a) / len(a), sum(b) / len(b)
        va = sum((x - ma) ** 2 for x in a) / (len(a) - 1) / len(a)
        vb = sum((x - mb) ** 2 for x in b) / (len(b) - 1) / len(b)
        t = (ma - mb) / math.sqrt(va + vb)
        df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
        from scipy.special import stdtr  # Student's t CDF, not the t-test code path
        self.assertAlmostEqual(S.compare(a, b)["p_welch"], 2 * stdtr(df, -abs(t)), places=12)
        self.assertIsNone(S.compare([1, 1, 1], [1, 1])["p_welch"])
        self.assertIsNone(S.compare([1], [2, 3])["p_welch"])
        with self.assertRaises(ValueError):
            S.compare([], [1])


class BatchFitTest(unittest.TestCase):
    B = [1, 4, 16, 64, 256, 1024, 10000]

    def test_two_points_by_hand(self):
        # S = a + b/B through (1, 300) and (2, 200): b = 200, a = 100, B_crit = b/a = 2.
        s_min, b_crit = S.fit_batch_scaling([1, 2], [300, 200])
        self.assertAlmostEqual(s_min, 100)
        self.assertAlmostEqual(b_crit, 2)

    def test_recovers_noiseless_parameters(self):
        for s_min, b_crit in ((100, 50), (32.5, 340), (1000, 3)):
            fit = S.fit_batch_scaling(self.B, [s_min * (1 + b_crit / b) for b in self.B])
            self.assertAlmostEqual(fit[0], s_min, delta=1e-9 * s_min)
            self.assertAlmostEqual(fit[1], b_crit, delta=1e-9 * b_crit)

    def test_noisy_within_tolerance(self):
        rng = np.random.default_rng(1)
        true = S.scaling_curve(self.B, 150, 90)
        fit = S.fit_batch_scaling(self.B, true * np.exp(rng.normal(0, 0.05, len(self.B))))
        self.assertAlmostEqual(fit[0], 150, delta=0.15 * 150)
        self.assertAlmostEqual(fit[1], 90, delta=0.25 * 90)

    def test_no_fit_when_steps_do_not_fall(self):
        self.assertIsNone(S.fit_batch_scaling([1, 2, 4], [100, 100, 120]))
        self.assertIsNone(S.fit_batch_scaling([8, 8], [100, 90]))
        self.assertIsNone(S.fit_batch_scaling([8], [100]))

    def test_bootstrap_over_seeds(self):
        rng = np.random.default_rng(2)
        per_batch = {b: list(S.scaling_curve([b], 150, 90)[0] * np.exp(rng.normal(0, 0.1, 5))) for b in self.B}
        f = S.fit_batch_scaling_bootstrap(per_batch, n=500)
        self.assertEqual(f, S.fit_batch_scaling_bootstrap(per_batch, n=500))
        point = S.fit_batch_scaling(self.B, [np.mean(per_batch[b]) for b in self.B])
        self.assertEqual((f["s_min"], f["b_crit"]), point)
        self.assertTrue(f["s_min_ci"][0] < 150 < f["s_min_ci"][1], f)
        self.assertTrue(f["b_crit_ci"][0] < 90 < f["b_crit_ci"][1], f)
        self.assertEqual(f["boot_ok"], 500)
        # Identical seeds: every resample is the point fit, so the interval collapses onto it.
        same = S.fit_batch_scaling_bootstrap({b: [300 / b + 100] * 3 for b in (1, 2, 4)}, n=50)
        self.assertAlmostEqual(same["b_crit_ci"][0], 3)
        self.assertAlmostEqual(same["b_crit_ci"][1], 3)
        one = S.fit_batch_scaling_bootstrap({1: [300], 2: [200]})
        self.assertAlmostEqual(one["b_crit"], 2)
        self.assertIsNone(one["b_crit_ci"])

    def test_time_to_target_by_hand(self):
        T, b = S.time_to_target([1, 10, 100], [1000, 120, 30], [1.0, 2.0, 20.0])
        self.assertEqual(T, [1000.0, 240.0, 600.0])
        self.assertEqual(b, 10)

    def test_regimes_are_ten_percent_from_the_asymptotes(self):
        lo, hi = S.regime_bounds(200)
        self.assertEqual((lo, hi), (20, 2000))
        s_lo, s_hi = S.scaling_curve([lo, hi], 7, 200)
        self.assertAlmostEqual(s_lo / (7 * 200 / lo), 1.1)
        self.assertAlmostEqual(s_hi / 7, 1.1)


class TuningCurveTest(unittest.TestCase):
    def test_three_point_grid_by_hand(self):
        g = [0.5, 0.1, 0.9]
        self.assertAlmostEqual(S.expected_best_of_k(g, 1), 0.5)
        self.assertAlmostEqual(S.expected_best_of_k(g, 2), 6.1 / 9)  # (0.1*1 + 0.5*3 + 0.9*5) / 9
        self.assertAlmostEqual(S.expected_best_of_k(g, 3), 20.7 / 27)  # (0.1*1 + 0.5*7 + 0.9*19) / 27
        # lower is better: E[min of 2] of 100, 200, 400 = (100*5 + 200*3 + 400*1) / 9
        self.assertAlmostEqual(S.expected_best_of_k([200, 400, 100], 2, higher_is_better=False), 1500 / 9)

    def test_enumerating_every_draw(self):
        g = [0.3, 0.7, 0.7, 0.0]  # ties and a diverged run scored 0
        for k in range(1, 5):
            draws = list(itertools.product(g, repeat=k))
            self.assertAlmostEqual(S.expected_best_of_k(g, k), sum(max(d) for d in draws) / len(draws))
            self.assertAlmostEqual(S.expected_best_of_k(g, k, higher_is_better=False),
                                   sum(min(d) for d in draws) / len(draws))

    def test_monte_carlo(self):
        rng = np.random.default_rng(7)
        g = rng.uniform(0.1, 0.9, 9)
        for k in (1, 3, 6):
            mc = g[rng.integers(0, len(g), size=(200000, k))].max(axis=1).mean()
            self.assertAlmostEqual(S.expected_best_of_k(list(g), k), mc, delta=0.003)

    def test_curve_is_the_mean_over_seeds(self):
        # seed 1: [0, 1] -> 0.5, 0.75; seed 2: [1, 1] -> 1, 1
        self.assertEqual(S.tuning_curve([[0, 1], [1, 1]]), [0.75, 0.875])
        self.assertEqual(len(S.tuning_curve([[0, 1, 2]], K=5)), 5)
        self.assertEqual(S.tuning_curve([]), [])
        with self.assertRaises(ValueError):
            S.expected_best_of_k([], 1)


class BestLrRuleTest(unittest.TestCase):
    def test_a_diverged_seed_disqualifies_the_rate(self):
        rs = [run(0.1, s, final=0.80) for s in (1, 2, 3)]
        rs += [run(0.3, 1, final=0.95), run(0.3, 2, final=0.95), run(0.3, 3, status="diverged", final=0.95)]
        self.assertEqual(R.select_best_lr(rs, "final")[0], 0.1)
        self.assertEqual(R.select_best_lr(rs[:3] + rs[3:5] + [run(0.3, 3, final=0.9)], "final")[0], 0.3)

    def test_a_seed_that_misses_the_target_disqualifies_the_rate(self):
        rs = [run(0.1, 1, steps=200), run(0.1, 2, steps=200), run(0.1, 3, steps=250)]
        rs += [run(0.3, 1, steps=100), run(0.3, 2, steps=100), run(0.3, 3, steps=None)]  # 2 of 3 reached
        lr, chosen = R.select_best_lr(rs, "steps_to_target")
        self.assertEqual(lr, 0.1)
        self.assertEqual(sorted(r["config"]["seed"] for r in chosen), [1, 2, 3])
        rs[5] = run(0.3, 3, steps=90, status="diverged")  # reached the target, then diverged
        self.assertEqual(R.select_best_lr(rs, "steps_to_target")[0], 0.1)
        rs[5] = run(0.3, 3, steps=120, status="stopped_at_target")
        self.assertEqual(R.select_best_lr(rs, "steps_to_target")[0], 0.3)

    def test_a_missing_seed_disqualifies_the_rate(self):
        rs = [run(0.1, s, final=0.8) for s in (1, 2, 3)] + [run(0.3, s, final=0.9) for s in (1, 2)]
        self.assertEqual(R.select_best_lr(rs, "final")[0], 0.1)

    def test_criteria_differ(self):
        rs = [run(0.1, s, final=0.70, best=0.90) for s in (1, 2)] + [run(0.3, s, final=0.80) for s in (1, 2)]
        self.assertEqual(R.select_best_lr(rs, "final")[0], 0.3)
        self.assertEqual(R.select_best_lr(rs, "best")[0], 0.1)
        budget = [run(0.1, 1, status="budget_exhausted", final=0.5)]
        self.assertEqual(R.select_best_lr(budget, "final")[0], 0.1)
        self.assertEqual(R.select_best_lr([run(0.1, 1, status="diverged", final=0.3)], "final"), (None, []))
        with self.assertRaises(ValueError):
            R.select_best_lr(rs, "fastest")


class ReportSectionsTest(unittest.TestCase):
    """report.py on hand-written result files: numbers in REPORT.md against values worked out here."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sgdbench_stats_")
        runs = []
        sgd, mom = [316, 330, 301, 322, 340], [178, 170, 190, 181, 175]
        for s in range(5):
            runs += [run(0.1, s, steps=sgd[s], label="mini-batch 32"), run(0.01, s, final=0.6, label="mini-batch 32"),
                     run(0.1, s, steps=mom[s], label="mini-batch 32 + momentum 0.9", momentum=0.9),
                     run(1.0, s, status="diverged", final=0.1, label="mini-batch 32 + momentum 0.9", momentum=0.9)]
        for b, S_b in ((128, 140 * (1 + 64 / 128)), (512, 140 * (1 + 64 / 512))):  # S_min 140, B_crit 64
            runs += [run(0.1, s, steps=round(S_b), label=f"mini-batch {b}", batch=b) for s in range(5)]
        cls.runs_dir = os.path.join(cls.tmp, "fx", "runs")
        os.makedirs(cls.runs_dir)
        for i, r in enumerate(runs):
            with open(os.path.join(cls.runs_dir, f"{i:03d}.json"), "w") as f:
                json.dump(r, f)
        p = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tools", "report.py"), os.path.join(cls.tmp, "fx"),
                            "--no-plots", "--select", "steps_to_target"], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        with open(os.path.join(cls.tmp, "fx", "REPORT.md")) as f:
            cls.text = f.read()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_pairwise_sentence(self):
        # 5 seeds each, completely separated: exact Mann-Whitney p = 2/252 = 0.0079.
        self.assertIn("- momentum 0.9 reaches 80% in fewer steps than plain SGD at batch 32: 179 vs 322, "
                      "p = 0.0079, 5 seeds each (better in 100% of seed pairs, rank-biserial 1.00", self.text)

    def test_best_lr_table_has_bootstrap_interval(self):
        row = [l for l in self.text.splitlines() if l.startswith("| mini-batch 32 + momentum 0.9 | 32 | 5 | 0.1 |")]
        self.assertEqual(len(row), 1, self.text)
        lo, hi = S.bootstrap_ci([178, 170, 190, 181, 175])
        self.assertIn(f"| 179 [{lo:.0f}, {hi:.0f}] |", row[0])

    def test_tuning_budget_table(self):
        # momentum's grid per seed: lr 0.1 reaches 80% (score 0.8), lr 1.0 diverges (0):
        # k=1 -> 40.0%, k=2 -> 0.8 * 3/4 = 60.0%; chance of reaching: 50%, 75%.
        rows = [l for l in self.text.splitlines() if l.startswith("| mini-batch 32 + momentum 0.9 | 2 | 5 |")]
        self.assertEqual(rows, ["| mini-batch 32 + momentum 0.9 | 2 | 5 | 40.0 | 60.0 |",
                                "| mini-batch 32 + momentum 0.9 | 2 | 5 | 50.0 | 75.0 |"])

    def test_batch_fit_section(self):
        self.assertIn("### Batch-size scaling fit", self.text)
        fam = [l for l in self.text.splitlines() if l.startswith("| plain SGD |")]
        self.assertEqual(len(fam), 1, self.text)
        fit = S.fit_batch_scaling([32, 128, 512], [321.8, 210, 158])
        self.assertIn(f"| plain SGD | {fit[0]:.1f}", fam[0])
        self.assertIn(f"| {fit[1]:.1f}", fam[0])


def _report(exp_dir, select):
    """REPORT.md of the result files under exp_dir, as `report.py exp_dir --no-plots --select select`
    writes it (in this process: no second numpy/scipy start-up)."""
    import report
    runs, problems = R.load_runs([exp_dir])
    assert runs and not problems, problems
    with open(report.write_report(runs, exp_dir, [], select)) as f:
        return f.read()


def _row(text, start):
    rows = [l for l in text.splitlines() if l.startswith(start)]
    assert len(rows) == 1, (start, rows)
    return rows[0]


class NoiseScaleTest(unittest.TestCase):
    """B_simple at the last logged point, per method and pooled per family, and B_crit beside it.
    Plain SGD: S_min 160, B_crit 64 at batch 32, 128, 512 (steps 480, 240, 180, every seed alike);
    momentum 0.9: S_min 100, B_crit 1024 at 32 and 128 (3300, 900). With 3 values the 95% percentile
    bootstrap interval of the mean is [min, max] (each extreme resample has probability 1/27 > 2.5%),
    with 2 values too (1/4)."""
    B_SIMPLE = {32: [[50, 100], [60, 150], [70, 230]], 128: [[40, 80], [40, 90], [40, None]],
                512: [[200], [220], [240]]}

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sgdbench_noise_")
        cls.runs = []
        for b, steps in ((32, 480), (128, 240), (512, 180)):
            for s in range(3):
                cls.runs.append(run(0.1, s, steps=steps, label=f"mini-batch {b}", batch=b,
                                    history=noise_history(cls.B_SIMPLE[b][s])))
                # a slower rate whose B_simple would change every number if it were picked
                cls.runs.append(run(0.01, s, steps=steps + 50, label=f"mini-batch {b}", batch=b,
                                    history=noise_history([5000])))
        for b, steps in ((32, 3300), (128, 900)):
            cls.runs += [run(0.1, s, steps=steps, label=f"mini-batch {b} + momentum 0.9", batch=b, momentum=0.9,
                             history=noise_history([20, 20])) for s in range(3)]
        cls.exp = os.path.join(cls.tmp, "fx")
        write_runs(cls.runs, cls.exp)
        cls.text = _report(cls.exp, "steps_to_target")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_last_point_by_hand(self):
        import sgdanalysis as A
        r = run(0.1, 1, history=noise_history([40, 90, None]))
        self.assertEqual(A.last_noise_scale(r), {"b_simple": None, "grad_sq": -0.5, "trace_cov": 100.0, "step": 30,
                                                 "last_defined": 90, "last_defined_step": 20})
        self.assertIsNone(A.last_noise_scale(run(0.1, 1)))
        self.assertIsNone(A.last_noise_scale(run(0.1, 1, history=noise_history([]))))  # only the null at step 0

    def test_per_method_numbers(self):
        import sgdanalysis as A
        rows = {r["label"]: r for r in A.noise_scale(self.runs, "steps_to_target")}
        self.assertEqual(rows["mini-batch 32"]["b_simple"], (160, (100, 230), 3))
        self.assertEqual(rows["mini-batch 128"]["b_simple"], (85, (80, 90), 2))
        self.assertEqual(rows["mini-batch 128"]["grad_sq"], (1 + 1 - 0.5) / 3)
        self.assertEqual(rows["mini-batch 128"]["trace_cov"], (80 + 90 + 100) / 3)
        self.assertEqual(rows["mini-batch 128"]["last_defined"][0], (80 + 90 + 40) / 3)
        self.assertEqual(rows["mini-batch 128"]["last_defined_steps"], [10, 20])
        fam = A.family_b_simple(self.runs, "steps_to_target")
        pooled = [100, 150, 230, 80, 90, 200, 220, 240]
        self.assertEqual((fam["plain SGD"]["mean"], fam["plain SGD"]["n"], fam["plain SGD"]["runs"]), (163.75, 8, 9))
        self.assertEqual(fam["plain SGD"]["ci"], S.bootstrap_ci(pooled))
        self.assertEqual(fam["momentum 0.9"]["mean"], 20)

    def test_report_table(self):
        self.assertIn("### Gradient noise scale", self.text)
        section = self.text.split("### Gradient noise scale")[1]
        self.assertIn("best learning rate by steps_to_target", section)
        self.assertIn("| 0.1 | 3 | 160 [100, 230] | 3/3 | 1.00 | 160 | 160 (step 20) |", _row(section, "| mini-batch 32 |"))
        self.assertIn("| 0.1 | 3 | 85.0 [80.0, 90.0] | 2/3 | 0.500 | 90.0 | 70.0 (steps 10, 20) |",
                      _row(section, "| mini-batch 128 |"))
        self.assertIn("| 0.1 | 3 | 220 [200, 240] | 3/3 |", _row(section, "| mini-batch 512 |"))

    def test_b_crit_sentences(self):
        lo, hi = S.bootstrap_ci([100, 150, 230, 80, 90, 200, 220, 240])
        # 64 / 163.75 = 0.39; 1024 / 20 = 51.2
        self.assertIn(f"- plain SGD: the fitted B_crit 64.0 is 0.39 times the measured B_simple 164 [{lo:.0f}, {hi:.0f}] "
                      "(mean over the 8 of 9 runs where it is defined, each batch size's best lr by steps_to_target): "
                      "within a factor of 3, as McCandlish et al. (2018) predict", self.text)
        self.assertIn("- momentum 0.9: the fitted B_crit 1024 is 51 times the measured B_simple 20.0 (mean over the 6 "
                      "of 6 runs", self.text)
        self.assertIn("more than a factor of 3 apart", self.text)

    def test_no_section_without_noise_scale(self):
        d = os.path.join(self.tmp, "plain")
        write_runs([run(0.1, s, steps=100) for s in range(2)], d)
        self.assertNotIn("Gradient noise scale", _report(d, "final"))
        self.assertNotIn("Gradient and weight norms", _report(d, "final"))


class GradNormsAndLbfgsTest(unittest.TestCase):
    """The gradient/weight-norm table and L-BFGS as a method: 'GD + L-BFGS' (lbfgs, full batch) and
    'GD' (SGD, full batch, clipped, one diverged rate) with hand-chosen norms, 3 seeds each."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sgdbench_norms_")
        runs = []
        for s, (g, w) in enumerate(((0.1, 20), (0.2, 22), (0.3, 24))):
            runs.append(run(1, s, final=0.90 + s / 100, label="GD + L-BFGS", batch="full", optimizer="lbfgs",
                            history=grad_history([1.0, 0.5, g], [10, 11, 12, w])))
        for s in range(3):
            runs.append(run(0.5, s, final=0.80 + s / 100, label="GD", batch="full",
                            history=grad_history([2.0, 1.0], [5, 6, 7], clip_before=[4.0, 1.0])))
            runs.append(run(5.0, s, status="diverged", final=0.1, label="GD", batch="full",
                            history=grad_history([1000.0], [5, 900])))
        runs += [run(0.1, s, final=0.7, label="mini-batch 32") for s in range(3)]  # logged no norms
        cls.runs = runs
        cls.exp = os.path.join(cls.tmp, "fx")
        write_runs(runs, cls.exp)
        cls.text = _report(cls.exp, "final")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_series_by_hand(self):
        import sgdanalysis as A
        gd = [r for r in self.runs if r["config"]["label"] == "GD" and r["config"]["lr"] == 0.5]
        g = A.grad_norm_series(gd, "grad")
        self.assertEqual(g["total"], ([1, 2], [2.0, 1.0]))
        self.assertEqual(g["before clipping"], ([1, 2], [4.0, 1.0]))
        self.assertAlmostEqual(g["dense1.weight"][1][0], 2.0 / math.sqrt(2))
        self.assertEqual(A.grad_norm_series(gd, "weights")["total"], ([0, 1, 2], [5.0, 6.0, 7.0]))

    def test_norm_table(self):
        self.assertIn("### Gradient and weight norms", self.text)
        # final gradient 0.1, 0.2, 0.3 -> 0.200 [0.100, 0.300]; weights 20, 22, 24 -> 22.0 [20.0, 24.0];
        # 0.2 / 22 = 0.0091; largest logged gradient norm 1.0 in every seed
        self.assertIn("| GD + L-BFGS | full | 1 | 3 | 0.200 [0.100, 0.300] | 22.0 [20.0, 24.0] | 0.0091 | 1.00 | – |",
                      self.text)
        # GD at its best rate 0.5 (the diverged 5.0 with its 1000 is not picked); clipped at 1 of 2 points, 3 seeds
        self.assertIn("| GD | full | 0.5 | 3 | 1.00 | 7.00 | 0.14 | 2.00 | 3/6 |", self.text)
        self.assertNotIn("| mini-batch 32 | 32 | 0.1 | 3 | ", self.text.split("### Gradient and weight norms")[1])

    def test_lbfgs_is_a_method(self):
        self.assertEqual(R.optimizer_family(self.runs[0]["config"]), "L-BFGS")
        self.assertIn("L-BFGS: one step runs several full-batch loss-and-gradient evaluations", self.text)
        # final 0.90, 0.91, 0.92: with 3 values the 95% bootstrap interval is [min, max]
        self.assertIn("| GD + L-BFGS | full | 3 | 1 | 91.00 [90.00, 92.00] |", self.text)
        # 3 seeds each, completely separated: exact Mann-Whitney p = 2/20
        self.assertIn("- L-BFGS ends at a higher test accuracy than plain SGD at full batch: 91.00% vs 81.00%, p = 0.1, "
                      "3 seeds each", self.text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
