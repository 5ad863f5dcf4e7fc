#!/usr/bin/python3
"""Tests of tools/perf_history.py: the change-point detector on synthetic series with known steps
(right index, no false steps on flat noisy series), the U test against scipy, bisect on a synthetic
history, the store surviving a killed writer, and the HTML report rendered in headless chromium.
Run: /usr/bin/python3 tests/test_perf_history.py   (unittest; exit status non-zero on failure)"""
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import perf_history as ph  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def noisy(levels, noise, rng, outliers=()):
    """One value per point: level * exp(N(0, noise)); outliers: {index: factor}."""
    v = [lv * math.exp(rng.gauss(0, noise)) for lv in levels]
    for i, f in dict(outliers).items():
        v[i] *= f
    return v


class Detector(unittest.TestCase):
    def test_one_step_found_at_its_index(self):
        rng = random.Random(11)
        for trial in range(40):
            n = rng.choice([12, 20, 40])
            k = rng.randrange(3, n - 3)
            f = rng.choice([0.5, 0.7, 1.4, 2.0])
            v = noisy([100 * (f if i >= k else 1) for i in range(n)], 0.03, rng)
            steps, levels = ph.detect_steps(v)
            self.assertEqual([s["index"] for s in steps], [k], f"trial {trial}: n {n}, step x{f} at {k}: {steps}")
            self.assertAlmostEqual(steps[0]["ratio"], f, delta=0.1 * f)
            self.assertEqual(len(levels), n)

    def test_two_steps_up_and_down(self):
        rng = random.Random(12)
        for trial in range(20):
            lv = [100] * 10 + [130] * 8 + [60] * 12
            steps, _ = ph.detect_steps(noisy(lv, 0.03, rng))
            self.assertEqual([s["index"] for s in steps], [10, 18], f"trial {trial}: {steps}")
            self.assertGreater(steps[0]["ratio"], 1.15)
            self.assertLess(steps[1]["ratio"], 0.55)

    def test_large_step_at_the_second_point(self):
        # the shape of 8a78afd's speed-up in a short history: one commit before, 2-5x faster after
        rng = random.Random(13)
        for trial in range(30):
            f = rng.choice([0.2, 0.3, 0.5])
            v = noisy([500] + [500 * f] * 9, 0.04, rng)
            steps, _ = ph.detect_steps(v)
            self.assertEqual([s["index"] for s in steps], [1], f"trial {trial}: x{f}: {steps}")

    def test_no_false_steps_on_flat_noisy_series(self):
        rng = random.Random(14)
        for trial in range(300):  # moderate noise: none at all
            n = rng.choice([10, 16, 30, 60])
            noise = rng.choice([0.01, 0.02, 0.03])
            v = noisy([250] * n, noise, rng)
            self.assertEqual(ph.detect_steps(v)[0], [], f"trial {trial}: n {n}, noise {noise}: {v}")

    def test_false_step_rate_on_flat_series_is_below_half_a_percent(self):
        # noise up to 10% and histories as short as 8: a chance run of high points can look like a
        # step (measured 1 series in 1000 at this seed); the rate must stay below 0.5%
        rng = random.Random(17)
        false = sum(bool(ph.detect_steps(noisy([250] * rng.choice([8, 10, 16, 30, 60]),
                                                 rng.choice([0.01, 0.05, 0.1]), rng))[0]) for _ in range(1000))
        self.assertLessEqual(false, 5, f"{false}/1000 flat series had a step")

    def test_single_outliers_inside_are_not_steps(self):
        rng = random.Random(15)
        for trial in range(50):
            n = 20
            i = rng.randrange(2, n - 2)
            v = noisy([100] * n, 0.03, rng, {i: rng.choice([1.3, 0.75])})
            self.assertEqual(ph.detect_steps(v)[0], [], f"trial {trial}: outlier at {i}")

    def test_steps_below_the_minimum_effect_are_merged(self):
        v = [100.0] * 10 + [103.0] * 10  # noise-free 3% step
        self.assertEqual(ph.detect_steps(v, min_effect=0.05)[0], [])
        self.assertEqual([s["index"] for s in ph.detect_steps(v, min_effect=0.01)[0]], [10])

    def test_mann_whitney_against_scipy(self):
        try:
            from scipy.stats import mannwhitneyu
        except ImportError:
            self.skipTest("scipy not installed (python3-scipy)")
        rng = random.Random(16)
        for _ in range(30):
            a = [round(rng.gauss(0, 1), 1) for _ in range(rng.randrange(3, 15))]
            b = [round(rng.gauss(0.8, 1), 1) for _ in range(rng.randrange(3, 15))]
            ref = mannwhitneyu(a, b, alternative="two-sided", method="asymptotic", use_continuity=True).pvalue
            self.assertAlmostEqual(ph.mann_whitney_p(a, b), ref, delta=1e-9)


class Bisect(unittest.TestCase):
    def test_finds_the_first_slower_commit(self):
        rng = random.Random(21)
        for k in (1, 5, 16, 31):
            commits = [f"{i:040x}" for i in range(32)]
            calls = []

            def measure(sha):
                calls.append(sha)
                i = int(sha, 16)
                return noisy([100 * (1.3 if i >= k else 1)] * 6, 0.03, rng)

            for stat in ("median", "min", "max"):
                calls.clear()
                r = ph.bisect_commits(commits, measure, log=lambda m: None, statistic=stat)
                self.assertTrue(r["slower"], stat)
                self.assertEqual(r["first_bad"], commits[k], stat)
                self.assertAlmostEqual(r["change_pct"], 30, delta=8)
                self.assertLessEqual(len(calls), 2 + math.ceil(math.log2(32)))

    def test_no_slowdown_is_reported_as_such(self):
        rng = random.Random(22)
        commits = [f"{i:040x}" for i in range(8)]
        r = ph.bisect_commits(commits, lambda s: noisy([100] * 6, 0.03, rng), log=lambda m: None)
        self.assertFalse(r["slower"])
        # a speed-up is not a slowdown either
        r = ph.bisect_commits(commits, lambda s: noisy([100 if int(s, 16) < 4 else 50] * 6, 0.03, rng),
                              log=lambda m: None)
        self.assertFalse(r["slower"])


def fake_record(i, bench, value, machine="m1", samples=None, unit="us"):
    ci = {"sha": f"{i:040x}", "short": f"{i:07x}", "time": 1700000000 + 60 * i, "date": "2026-01-01T00:00:00+00:00",
          "subject": f"commit {i}"}
    m = {"id": machine, "name": machine, "cpu_model": "Test CPU", "isa": ["avx2"], "cores": 2,
         "peak_gflops": {"avx2_1_thread": 100.0}}
    s = samples or [value * f for f in (0.98, 1.0, 1.02)]
    rec = ph.make_record(ci, m, bench, "train_step", s, unit, {"pct_of_peak": 1000 / value, "gflops_median": 1.0},
                         {"loadavg_before": [0.1, 0.1, 0.1]})
    if bench == ph.CONV_NAME:
        rec.update(kind="time_to_target", steps_to_target=[600] * len(s), target_reached=True)
    return rec


WRITER = r"""
import sys
sys.path.insert(0, sys.argv[2])
import perf_history as ph
sys.path.insert(0, sys.argv[3])
from test_perf_history import fake_record
big = [float(i) for i in range(20000)]  # ~200 kB per line: a kill often lands inside a write
i = 0
while True:
    ph.append_record(sys.argv[1], fake_record(i, "train_step/x/batch:1", 100.0, samples=big))
    i += 1
"""


class Store(unittest.TestCase):
    def setUp(self):
        self.d = tempfile.mkdtemp(prefix="ph_store_")

    def tearDown(self):
        shutil.rmtree(self.d, ignore_errors=True)

    def test_torn_last_line_is_skipped_and_next_append_is_whole(self):
        for i in range(3):
            ph.append_record(self.d, fake_record(i, "train_step/a/batch:1", 100.0))
        path = ph.store_path(self.d, "m1")
        line = json.dumps(fake_record(3, "train_step/a/batch:1", 100.0))
        with open(path, "a") as f:
            f.write(line[: len(line) // 2])  # a writer killed mid-line
        warnings = []
        recs = ph.read_store(self.d, warn=warnings.append)
        self.assertEqual(len(recs), 3)
        self.assertTrue(any("torn last line" in w and path in w for w in warnings), warnings)
        ph.append_record(self.d, fake_record(4, "train_step/a/batch:1", 100.0))
        warnings = []
        recs = ph.read_store(self.d, warn=warnings.append)
        self.assertEqual(sorted(r["commit"]["short"] for r in recs), ["0000000", "0000001", "0000002", "0000004"])
        self.assertTrue(any(f"{path}:4: bad record" in w for w in warnings), warnings)  # the torn one, now mid-file

    def test_killed_writer_leaves_only_whole_records(self):
        path = ph.store_path(self.d, "m1")
        rng = random.Random(31)
        for trial in range(5):
            p = subprocess.Popen(["/usr/bin/python3", "-c", WRITER, self.d, os.path.join(ROOT, "tools"),
                                  os.path.dirname(os.path.abspath(__file__))])
            time.sleep(0.3 + rng.random() * 0.5)
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
            with open(path, "rb") as f:
                data = f.read()
            recs = ph.read_store(self.d, warn=lambda m: None)
            whole = data.count(b"\n")  # lines completed by some writer (a torn one is completed by the next's "\n")
            for r in recs:
                self.assertEqual(len(r["samples"]), 20000)
                self.assertEqual(r["schema_version"], ph.SCHEMA_VERSION)
            self.assertGreater(len(recs), 0, f"trial {trial}: nothing written")
            self.assertGreaterEqual(whole, len(recs))

    def test_bad_schema_is_named(self):
        path = ph.store_path(self.d, "m1")
        ph.append_record(self.d, fake_record(0, "b", 1.0))
        with open(path, "a") as f:
            f.write(json.dumps(dict(fake_record(1, "b", 1.0), schema_version=99)) + "\n")
        w = []
        self.assertEqual(len(ph.read_store(self.d, warn=w.append)), 1)
        self.assertTrue(any(":2: bad record" in x and "schema_version 99" in x for x in w), w)


def synthetic_store(d):
    """Two benchmarks and the convergence metric over 12 commits; known steps at commits 4 and 9."""
    rng = random.Random(41)
    for i in range(12):
        ph.append_record(d, fake_record(i, "train_step/lenet/batch:1", 100 * (0.4 if i >= 4 else 1) * math.exp(rng.gauss(0, 0.02))))
        ph.append_record(d, fake_record(i, "train_step/mlp/batch:32", 50 * (1.5 if i >= 9 else 1) * math.exp(rng.gauss(0, 0.02))))
        ph.append_record(d, fake_record(i, ph.CONV_NAME, 0.2 * math.exp(rng.gauss(0, 0.02)), unit="s"))


class Report(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = tempfile.mkdtemp(prefix="ph_report_")
        cls.store, cls.out = os.path.join(cls.d, "store"), os.path.join(cls.d, "report")
        synthetic_store(cls.store)
        rc = ph.main(["report", "--store", cls.store, "--out", cls.out])
        assert rc == 0, rc

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.d, ignore_errors=True)

    def test_steps_json_names_the_known_commits(self):
        with open(os.path.join(self.out, "steps.json")) as f:
            doc = json.load(f)
        self.assertEqual(doc["schema_version"], ph.SCHEMA_VERSION)
        self.assertIn("tool_commit", doc["provenance"])
        got = sorted((s["benchmark"], s["commit"]) for s in doc["steps"])
        self.assertEqual(got, [("train_step/lenet/batch:1", f"{4:07x}"), ("train_step/mlp/batch:32", f"{9:07x}")])

    def test_html_names_every_plot_and_the_plots_exist(self):
        with open(os.path.join(self.out, "index.html")) as f:
            html = f.read()
        imgs = [p.split('"')[0] for p in html.split('<img src="')[1:]]
        self.assertEqual(len(imgs), 3)
        for p in imgs:
            self.assertGreater(os.path.getsize(os.path.join(self.out, p)), 5000, p)
        self.assertIn("Latest changes", html)
        m = re.search(r"([\d.]+)x faster", html)  # 100 -> 40 us with 2% noise
        self.assertTrue(m and 2.2 < float(m.group(1)) < 2.8, m and m.group(0))
        self.assertIn("600 steps", html)  # the convergence metric beside the speed

    @unittest.skipUnless(os.path.exists(CHROMIUM), f"{CHROMIUM} not installed (apt-get install chromium)")
    def test_renders_in_headless_chromium(self):
        shot, errors = render(os.path.join(self.out, "index.html"), self.d)
        self.assertEqual(errors, [], "console errors")
        self.assertGreater(os.path.getsize(shot), 20000)
        import matplotlib.image as mpimg
        px = mpimg.imread(shot)[..., :3]
        # the plots' blue lines and bands: pixels clearly blue, not white/grey text
        blue = ((px[..., 2] > px[..., 0] + 0.25) & (px[..., 2] > 0.5)).sum()
        self.assertGreater(blue, 2000, "no plot pixels on the screenshot")

    @unittest.skipUnless(os.path.exists(CHROMIUM), f"{CHROMIUM} not installed (apt-get install chromium)")
    def test_committed_reference_history_renders(self):
        page = os.path.join(ROOT, "results", "reference", "perf_history", "index.html")
        if not os.path.exists(page):
            self.skipTest(f"{page} not present")
        shot, errors = render(page, self.d)
        self.assertEqual(errors, [], "console errors")
        import matplotlib.image as mpimg
        px = mpimg.imread(shot)[..., :3]
        self.assertGreater(((px[..., 2] > px[..., 0] + 0.25) & (px[..., 2] > 0.5)).sum(), 2000)
        with open(os.path.join(os.path.dirname(page), "steps.json")) as f:
            steps = json.load(f)["steps"]
        # the dense-after-flatten weight layout commit is found where it was made
        self.assertTrue(any(s["commit"] == "8a78afd" and s["change_pct"] < -40 for s in steps), steps)

    @unittest.skipUnless(os.path.exists(CHROMIUM), f"{CHROMIUM} not installed (apt-get install chromium)")
    def test_chromium_check_sees_a_broken_page(self):
        # negative control: the same check must fail on a page with a script error and no plots
        bad = os.path.join(self.d, "bad.html")
        with open(bad, "w") as f:
            f.write("<html><body><p>no plots</p><script>undefined_function_x();</script></body></html>")
        shot, errors = render(bad, self.d)
        self.assertTrue(any("undefined_function_x" in e for e in errors), errors)
        import matplotlib.image as mpimg
        px = mpimg.imread(shot)[..., :3]
        self.assertLess(((px[..., 2] > px[..., 0] + 0.25) & (px[..., 2] > 0.5)).sum(), 100)


def render(page, tmp):
    prof = tempfile.mkdtemp(prefix="chromium_", dir=tmp)
    shot = os.path.join(tmp, os.path.basename(page) + ".png")
    if os.path.exists(shot):
        os.remove(shot)
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={prof}", "--enable-logging=stderr", "--v=0", "--hide-scrollbars",
           f"--screenshot={shot}", "--window-size=1400,2400", "file://" + os.path.abspath(page)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and os.path.exists(shot), f"chromium exit {p.returncode}: {p.stderr[-500:]}"
    errors = [l for l in p.stderr.splitlines() if "CONSOLE" in l or "Uncaught" in l]
    return shot, errors


class Commits(unittest.TestCase):
    def test_ranges_and_lists(self):
        try:
            head = ph.git("rev-parse", "HEAD")
            first = ph.git("rev-list", "--first-parent", "--reverse", "-n4", "HEAD").split()
        except ph.Fail:
            self.skipTest("not a git checkout")
        if len(first) < 4:
            self.skipTest("fewer than 4 commits")
        self.assertEqual(ph.resolve_commits(f"{first[0]}..{first[3]}"), first[1:4])
        self.assertEqual(ph.resolve_commits(f"{first[2]},{first[0]}..{first[1]}"), [first[2], first[1]])
        self.assertEqual(ph.resolve_commits(last=2), first[2:4] if first[3] == head else ph.resolve_commits(last=2))
        self.assertEqual(ph.resolve_commits(f"{first[0]}..{first[3]}", every=2), [first[1], first[3]])
        with self.assertRaises(ph.Fail):
            ph.resolve_commits("no-such-ref-xyz")


if __name__ == "__main__":
    unittest.main(verbosity=2)
