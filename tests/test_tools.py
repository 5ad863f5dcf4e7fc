#!/usr/bin/python3
"""Tests for tools/plot.py and tools/report.py on a small result set made here with sgdbench
(synthetic data, several seeds, a diverged run), plus the JSON Schema of result files; the
figures of gradient norms, the noise scale and lr-find on hand-built results (fakeruns.py) and on
real sgdbench output (log_grad_norms, noise_scale, clipping, L-BFGS, lr-find).

Usage: /usr/bin/python3 tests/test_tools.py path/to/sgdbench
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import sgdresults as R  # noqa: E402
import fakeruns as F  # noqa: E402  (tests/ is on the path)
PY = "/usr/bin/python3"
SGDBENCH = None

SPEC = {
    "experiment": "tiny",
    "description": "tools test",
    "base": {"model": "keras_mnist_mlp", "epochs": 2, "target_acc": 0.3, "log_every_steps": 10,
             "data": {"name": "synthetic", "synthetic": {"shape": [1, 8, 8], "train": 400, "test": 100}}},
    "grid": {"variants": [{"batch_size": 16, "grid": {"lr": [0.05, 1e6]}},
                          {"batch_size": 64, "optimizer": {"name": "sgd", "momentum": 0.9}, "lr": 0.05},
                          {"batch_size": "full", "lr": 0.5}],
             "seed": [1, 2, 3]},
}


class ToolsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sgdbench_tools_")
        spec = os.path.join(cls.tmp, "tiny.json")
        with open(spec, "w") as f:
            json.dump(SPEC, f)
        cls.results = os.path.join(cls.tmp, "results")
        subprocess.run([SGDBENCH, "run", spec, "--out", cls.results, "--quiet"], check=True, capture_output=True)
        cls.exp = os.path.join(cls.results, "tiny")
        cls.runs_dir = os.path.join(cls.exp, "runs")
        cls.runs = {}
        for f in os.listdir(cls.runs_dir):
            with open(os.path.join(cls.runs_dir, f)) as fh:
                cls.runs[f] = json.load(fh)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tool(self, name, *args):
        return subprocess.run([PY, os.path.join(ROOT, "tools", name), *args], capture_output=True, text=True)

    def test_schema_validates_every_result(self):
        try:
            import jsonschema
        except ImportError:
            self.skipTest("python3-jsonschema not installed (tools/setup.sh installs it)")
        with open(os.path.join(ROOT, "results", "schema.json")) as f:
            schema = json.load(f)
        self.assertEqual(len(self.runs), 12)
        for name, run in self.runs.items():
            jsonschema.validate(run, schema)
        broken = dict(next(iter(self.runs.values())))
        broken["status"] = "finished"
        with self.assertRaises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)

    def test_result_set_has_what_the_tools_need(self):
        statuses = sorted(r["status"] for r in self.runs.values())
        self.assertEqual(statuses.count("diverged"), 3)
        self.assertEqual(len({r["config"]["seed"] for r in self.runs.values()}), 3)

    def test_plot_writes_png_and_svg(self):
        out = os.path.join(self.tmp, "plots")
        p = self.tool("plot.py", self.results, "--out", out)
        self.assertEqual(p.returncode, 0, p.stderr)
        files = set(os.listdir(out))
        for stem in ("learning_curves_keras_mnist_mlp", "lr_sensitivity_keras_mnist_mlp",
                     "batch_scaling_keras_mnist_mlp", "throughput"):
            for ext in ("png", "svg"):
                self.assertIn(f"{stem}.{ext}", files)
                self.assertGreater(os.path.getsize(os.path.join(out, f"{stem}.{ext}")), 1000)

    def test_report_table_numbers(self):
        p = self.tool("report.py", self.exp)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(self.exp, "REPORT.md")) as f:
            text = f.read()
        # the row of mini-batch 16 at lr 0.05: mean ± std of final accuracy over the 3 seeds
        finals = [r["summary"]["final_test_acc"] for r in self.runs.values()
                  if r["config"]["batch_size"] == 16 and r["config"]["lr"] == 0.05]
        self.assertEqual(len(finals), 3)
        import statistics
        cell = f"{100 * statistics.fmean(finals):.2f} ± {100 * statistics.stdev(finals):.2f}"
        row = [l for l in text.splitlines() if l.startswith("| mini-batch 16 | 16 | 0.05 |")]
        self.assertEqual(len(row), 1, text)
        self.assertIn(cell, row[0])
        self.assertIn("| 3 | 3 completed |", row[0])
        div = [l for l in text.splitlines() if l.startswith("| mini-batch 16 | 16 | 1e+06 |")]
        self.assertEqual(len(div), 1)
        self.assertIn("3 diverged", div[0])
        steps = [r["summary"]["steps_to_target"] for r in self.runs.values()
                 if r["config"]["batch_size"] == 64 and r["summary"]["target_reached"]]
        self.assertTrue(steps)
        self.assertIn("![learning_curves_keras_mnist_mlp.png](plots/learning_curves_keras_mnist_mlp.png)", text)
        self.assertIn("sgdbench run", text)
        self.assertIn("checksum", text)

    def test_bad_files_are_named_and_skipped(self):
        bad_dir = os.path.join(self.tmp, "bad", "tiny", "runs")
        shutil.copytree(self.runs_dir, bad_dir)
        with open(os.path.join(bad_dir, "broken.json"), "w") as f:
            f.write('{"schema_version": 1, "run_id": ')
        with open(os.path.join(bad_dir, "nohistory.json"), "w") as f:
            json.dump({"schema_version": 1, "run_id": "x"}, f)
        out = os.path.join(self.tmp, "badplots")
        p = self.tool("plot.py", os.path.join(self.tmp, "bad"), "--out", out)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("broken.json: invalid JSON (line 1", p.stderr)
        self.assertIn("nohistory.json: missing field(s)", p.stderr)
        self.assertTrue(os.path.exists(os.path.join(out, "learning_curves_keras_mnist_mlp.png")))
        p = self.tool("plot.py", os.path.join(self.tmp, "nonexistent"))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("nonexistent", p.stderr)


def lr_find_doc(lr, smoothed, suggested, min_loss):
    return {"schema_version": 2, "kind": "lr_find", "config": {"model_name": "mlp", "label": "mini-batch 32",
                                                                "batch_size": 32, "data": {"name": "synthetic"}},
            "range": {"start": lr[0], "end": lr[-1], "steps": len(lr), "smooth": 0.98, "diverge": 4},
            "lr": lr, "loss": [v + 0.05 for v in smoothed], "smoothed_loss": smoothed,
            "suggested_lr": suggested, "min_loss_lr": min_loss, "stop_reason": "reached --end"}


class ScienceFiguresTest(unittest.TestCase):
    """grad_norms_<model>, noise_scale_<model>, B_simple in batch_scaling_<model> and the lr-find
    plot, on hand-built result dicts: each written when its data is there and only then."""

    @classmethod
    def setUpClass(cls):
        import plot
        cls.plot = plot
        cls.tmp = tempfile.mkdtemp(prefix="sgdbench_figs_")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def runs(self, grads, noise):
        out = []
        for b, steps in ((32, 480), (128, 240), (512, 180)):  # S_min 160, B_crit 64
            for s in (1, 2):
                h = (F.noise_history([60 + b, 80 + b]) if noise else
                     F.grad_history([1.0, 0.1, 0.01], [5, 6, 7, 8]) if grads else None)
                out.append(F.run(0.1, s, steps=steps, label=f"mini-batch {b}", batch=b, history=h))
        return out

    def written(self, figure, runs, name, formats=("png",)):
        """plot.<figure>(...) into its own directory: the names of the files written."""
        out = os.path.join(self.tmp, name)
        paths = getattr(self.plot, figure)(runs, "mlp", out, formats, "final")
        self.assertEqual(sorted(paths), sorted(os.path.join(out, f) for f in os.listdir(out)) if paths else [])
        return {os.path.basename(p) for p in paths}

    def test_grad_norms_only_when_logged(self):
        self.assertEqual(self.written("grad_norms", self.runs(grads=True, noise=False), "grads"), {"grad_norms_mlp.png"})
        self.assertEqual(self.written("grad_norms", self.runs(grads=False, noise=False), "none"), set())
        self.assertEqual(self.written("grad_norms", self.runs(grads=False, noise=True), "noise_only"), set())

    def test_noise_scale_figures(self):
        self.assertEqual(self.written("noise_scale", self.runs(grads=False, noise=True), "noise"), {"noise_scale_mlp.png"})
        self.assertEqual(self.written("noise_scale", self.runs(grads=True, noise=False), "grads_only"), set())
        self.written("batch_scaling", self.runs(grads=False, noise=True), "noise_b", ("svg",))
        with open(os.path.join(self.tmp, "noise_b", "batch_scaling_mlp.svg")) as f:
            svg = f.read()
        self.assertIn('id="b_simple_line"', svg)  # the measured B_simple beside B_crit
        self.assertIn('id="b_crit_line"', svg)

    def test_lbfgs_sorts_with_gd(self):
        runs = [F.run(0.1, 1, label="mini-batch 32"), F.run(1, 1, label="GD + L-BFGS", batch="full", optimizer="lbfgs"),
                F.run(0.5, 1, label="GD", batch="full"), F.run(0.1, 1, label="mini-batch 64", batch=64)]
        self.assertEqual([c[0] for c in self.plot._best_per_method(runs, "final")],
                         ["mini-batch 32", "mini-batch 64", "GD", "GD + L-BFGS"])

    def test_lr_find_markers_by_hand(self):
        doc = lr_find_doc([1e-4, 1e-3, 1e-2, 1e-1, 1], [2.3, 2.2, 1.5, 1.2, 4.0], 1e-2, 1e-1)
        self.assertEqual(self.plot.lr_find_markers(doc), {"suggested": (1e-2, 1.5), "min_loss": (1e-1, 1.2)})
        # a rate between the recorded ones takes the loss of the nearest on a log scale: 0.03 is nearer 0.01
        doc["suggested_lr"] = 0.03
        self.assertEqual(self.plot.lr_find_markers(doc)["suggested"], (0.03, 1.5))
        doc["suggested_lr"] = 0.0  # sgdbench writes 0 when it has no suggestion
        self.assertNotIn("suggested", self.plot.lr_find_markers(doc))

    def plot_main(self, *args):
        """plot.py's main() in this process (no second matplotlib start-up): its stdout lines."""
        import contextlib
        import io
        out, argv = io.StringIO(), sys.argv
        sys.argv = ["plot.py", *args]
        try:
            with contextlib.redirect_stdout(out):
                self.plot.main()
        finally:
            sys.argv = argv
        return out.getvalue().split()

    def test_lr_find_plot_beside_the_document(self):
        d = os.path.join(self.tmp, "results", "lr_find")
        os.makedirs(d)
        doc = os.path.join(d, "mlp_synthetic_b32.json")
        with open(doc, "w") as f:
            json.dump(lr_find_doc([1e-4, 1e-3, 1e-2, 1e-1, 1], [2.3, 2.2, 1.5, 1.2, 4.0], 1e-2, 1e-1), f)
        stem = os.path.join(d, "mlp_synthetic_b32")
        self.assertEqual(self.plot_main(doc), [stem + ".png", stem + ".svg"])
        with open(stem + ".svg") as f:
            svg = f.read()
        self.assertIn('id="suggested_lr"', svg)
        self.assertIn('id="min_loss_lr"', svg)
        _, drawn = self.plot.lr_find(R.read_lr_find(doc), os.path.join(self.tmp, "lrf"), [])  # draws, saves nothing
        self.assertEqual(drawn, {"suggested": (1e-2, 1.5), "min_loss": (1e-1, 1.2)})
        # a results root holding lr_find/ and no runs: its documents are plotted, nothing is refused
        self.assertEqual(self.plot_main(os.path.join(self.tmp, "results"), "--formats", "png"), [stem + ".png"])
        # report.py names an lr-find document it is given and skips it
        p = subprocess.run([PY, os.path.join(ROOT, "tools", "report.py"), doc, "--no-plots"], capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("an lr-find document, not a run result", p.stderr)


class ScienceOutputTest(unittest.TestCase):
    """Real sgdbench output with log_grad_norms, noise_scale, gradient clipping and L-BFGS, and an
    lr-find document: valid against results/schema.json, and the tools draw and report it."""
    SPEC = {"experiment": "sci",
            "base": {"model": "keras_mnist_mlp", "epochs": 2, "target_acc": 0.3, "log_every_steps": 5,
                     "log_grad_norms": True,
                     "data": {"name": "synthetic", "synthetic": {"shape": [1, 8, 8], "train": 400, "test": 100}}},
            "grid": {"variants": [{"batch_size": 16, "lr": 0.05,
                                   "noise_scale": {"every_steps": 10, "small": 0, "big": 128, "ema": 0.9}},
                                  {"batch_size": "full", "lr": 1, "optimizer": {"name": "lbfgs", "max_iter": 5}},
                                  {"batch_size": "full", "lr": 0.5, "clip": {"norm": 0.5, "value": 0}}],
                     "seed": [1, 2]}}

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sgdbench_sci_")
        spec = os.path.join(cls.tmp, "sci.json")
        with open(spec, "w") as f:
            json.dump(cls.SPEC, f)
        cls.results = os.path.join(cls.tmp, "results")
        subprocess.run([SGDBENCH, "run", spec, "--out", cls.results, "--quiet"], check=True, capture_output=True)
        cls.exp = os.path.join(cls.results, "sci")
        cls.runs = R.load_runs([cls.exp])[0]
        subprocess.run([SGDBENCH, "lr-find", "--model", "keras_mnist_mlp", "--data", "synthetic", "--set",
                        "data.synthetic.shape=[1,8,8]", "--set", "data.synthetic.train=400", "--set",
                        "data.synthetic.test=100", "--steps", "30", "--start", "1e-4", "--end", "10",
                        "--out", cls.results], check=True, capture_output=True)
        cls.lr_find = os.path.join(cls.results, "lr_find", "keras_mnist_mlp_synthetic_b32.json")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_output_has_the_new_fields_and_validates(self):
        self.assertEqual(len(self.runs), 6)
        by = R.group(self.runs, lambda r: r["config"]["label"])
        self.assertEqual(sorted(by), ["GD", "GD + L-BFGS", "mini-batch 16"])
        self.assertEqual(R.optimizer_family(by["GD + L-BFGS"][0]["config"]), "L-BFGS")
        self.assertTrue(any((h.get("noise_scale") or {}).get("b_simple") for r in by["mini-batch 16"] for h in r["history"]))
        self.assertTrue(all("grad" in h["grad_norms"] for r in self.runs for h in r["history"][1:]))
        self.assertTrue(any("clip_scale" in h["grad_norms"] for r in by["GD"] for h in r["history"]))
        try:
            import jsonschema
        except ImportError:
            self.skipTest("python3-jsonschema not installed (tools/setup.sh installs it)")
        with open(os.path.join(ROOT, "results", "schema.json")) as f:
            schema = json.load(f)
        for r in self.runs:
            jsonschema.validate({k: v for k, v in r.items() if k != "_file"}, schema)

    def test_plots_and_report(self):
        import plot
        import report
        from unittest import mock
        skip = [mock.patch.object(plot, f, return_value=[])  # drawn and tested in ToolsTest; slow to draw
                for f in ("learning_curves", "lr_sensitivity", "batch_scaling", "tuning_budget", "throughput")]
        for m in skip:
            m.start()
        try:
            paths = plot.plot_experiment(self.runs, os.path.join(self.exp, "plots"), ["png"])  # what report.py does
        finally:
            for m in skip:
                m.stop()
        names = {os.path.basename(p) for p in paths}
        self.assertTrue({"grad_norms_keras_mnist_mlp.png", "noise_scale_keras_mnist_mlp.png"} <= names, names)
        with open(report.write_report(self.runs, self.exp, paths)) as f:
            text = f.read()
        self.assertIn("![grad_norms_keras_mnist_mlp.png](plots/grad_norms_keras_mnist_mlp.png)", text)
        for heading in ("### Gradient noise scale", "### Gradient and weight norms"):
            self.assertIn(heading, text)
        self.assertIn("| GD + L-BFGS | full | 2 | 1 |", text)  # a method of the best-lr table like the others
        self.assertIn("L-BFGS", text.split("### Comparisons at the same batch size")[1])

    def test_lr_find_document_plots(self):
        import plot
        doc = R.read_lr_find(self.lr_find)
        self.assertEqual(len(doc["lr"]), 30)
        paths, _ = plot.lr_find(doc, formats=["png"])
        self.assertEqual(paths, [self.lr_find[:-len("json")] + "png"])
        self.assertGreater(os.path.getsize(paths[0]), 1000)


class DeclarationsTest(unittest.TestCase):
    """results/schema.json and the Python tools must agree with the C++ declarations
    (`sgdbench describe --json`): this fails when a name is added on one side only."""

    def test_schema_enums_match_declarations(self):
        d = json.loads(subprocess.run([SGDBENCH, "describe", "--json"], check=True, capture_output=True,
                                      text=True).stdout)
        with open(os.path.join(ROOT, "results", "schema.json")) as f:
            schema = json.load(f)
        props = schema["properties"]
        self.assertEqual(props["schema_version"]["const"], d["result_schema_version"])
        self.assertIn(d["result_schema_version"], R.SCHEMA_VERSIONS)
        self.assertEqual(sorted(props["status"]["enum"]), sorted(d["statuses"]))
        cfg = props["config"]["properties"]
        self.assertEqual(sorted(cfg["optimizer"]["properties"]["name"]["enum"]),
                         sorted(o["name"] for o in d["optimizers"]))
        self.assertEqual(sorted(cfg["data"]["properties"]["name"]["enum"]), sorted(x["name"] for x in d["data_sets"]))
        self.assertEqual(sorted(cfg["schedule"]["properties"]["name"]["enum"]),
                         sorted(x["name"] for x in d["schedules"]))
        # Display names and the canonical config's fields come from the same declarations.
        self.assertEqual(R.OPTIMIZER_DISPLAY, {o["name"]: o["display"] for o in d["optimizers"]})
        self.assertTrue(set(cfg) - {"model_name"} <= set(d["config_fields"]), set(cfg) - set(d["config_fields"]))
        model = cfg["model"]["properties"]
        self.assertEqual(sorted(model["init"]["enum"]), sorted(d["inits"]))
        self.assertEqual(sorted(model["layers"]["items"]["propertyNames"]["enum"]),
                         sorted(k["name"] for k in d["layers"]))
        # The zoo the C++ side embeds is the set of files tools/torch_models.py reads.
        files = sorted(f[:-5] for f in os.listdir(os.path.join(ROOT, "models")) if f.endswith(".json"))
        self.assertEqual(files, sorted(m["name"] for m in d["models"]))


class HarnessOverheadTest(unittest.TestCase):
    """tools/harness_overhead.py against bench_train_step beside sgdbench's build (skipped without it)."""

    def test_rows_are_the_medians_ratio(self):
        bench = os.path.join(os.path.dirname(SGDBENCH), "bench", "bench_train_step")
        if not os.access(bench, os.X_OK):
            self.skipTest(f"{bench} not built")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "o.json")
            r = subprocess.run([PY, os.path.join(ROOT, "tools", "harness_overhead.py"), "--bench", bench,
                                "--setups", "keras_mnist_mlp:4", "--repetitions", "3", "--min-time", "0.01",
                                "--threads", "1", "--json", out], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out) as f:
                d = json.load(f)
        (row,) = d["rows"]
        self.assertEqual((row["model"], row["batch"]), ("keras_mnist_mlp", 4))
        self.assertEqual((len(row["step_us"]), len(row["trainer_step_us"])), (3, 3))
        # --threads 1: no latency filter, every repetition counts.
        self.assertEqual(row["kept"], [3, 3])
        self.assertIsNone(d["core_to_core_limit_ns"])
        self.assertEqual(len(row["step_core_to_core_ns"]), 3)
        # A latency where the probe could measure one (None: one CPU, or the threads shared one).
        self.assertTrue(all(c is None or c > 0 for c in row["step_core_to_core_ns"] + row["trainer_core_to_core_ns"]))
        med = lambda v: sorted(v)[1]  # noqa: E731  (three values)
        self.assertAlmostEqual(row["overhead_median"], med(row["trainer_step_us"]) / med(row["step_us"]) - 1)
        self.assertAlmostEqual(row["overhead_best"], min(row["trainer_step_us"]) / min(row["step_us"]) - 1)
        self.assertEqual(row["goal_met"], row["overhead_median"] <= 0.02)
        self.assertEqual(d["context"]["sgdbench_threads"], "1")

    def test_slow_placement_repetitions_are_left_out(self):
        sys.path.insert(0, os.path.join(ROOT, "tools"))
        import harness_overhead as H
        times = {("m", 4, "BM_TrainStep"): [(100, 30), (110, 31), (105, 29), (500, 170)],
                 ("m", 4, "BM_TrainerStep"): [(102, 30), (108, 28), (600, 180), (104, None)],
                 ("n", 1, "BM_TrainStep"): [(10, 30), (12, 100), (11, 100)],
                 ("n", 1, "BM_TrainerStep"): [(10, 30), (13, 30), (12, 30)]}
        rows, limit = H.summarize(times, [("m", 4), ("n", 1)], 0.02)
        # The widest gap (as a ratio) between sorted latencies: 31 -> 100, split at sqrt(31 x 100).
        self.assertAlmostEqual(limit, (31 * 100) ** 0.5)
        m, n = rows
        self.assertEqual(m["kept"], [3, 3])  # the 170 and 180 ns repetitions out; no latency: kept
        self.assertAlmostEqual(m["overhead_median"], 104 / 105 - 1)
        self.assertAlmostEqual(m["overhead_best"], 102 / 100 - 1)
        self.assertTrue(m["goal_met"])
        self.assertEqual(n["kept"], [3, 3])  # one fast step repetition only: every repetition counts
        self.assertAlmostEqual(n["overhead_median"], 12 / 11 - 1)
        self.assertFalse(n["goal_met"])
        rows, limit = H.summarize(times, [("m", 4)], 0.02, all_repetitions=True)
        self.assertIsNone(limit)
        self.assertAlmostEqual(rows[0]["overhead_median"], 106 / 107.5 - 1)
        # One state only, with the probe's occasional ~12 ns readings: a 2.2x gap is not split.
        one = {("m", 4, k): [(100 + i, c) for i, c in enumerate([12.4, 27, 28, 12.5, 26, 29])]
               for k in ("BM_TrainStep", "BM_TrainerStep")}
        rows, limit = H.summarize(one, [("m", 4)], 0.02)
        self.assertIsNone(limit)
        self.assertEqual(rows[0]["kept"], [6, 6])

    def test_bad_setups_are_named(self):
        r = subprocess.run([PY, os.path.join(ROOT, "tools", "harness_overhead.py"), "--bench", SGDBENCH,
                            "--setups", "keras_mnist_mlp"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--setups: 'keras_mnist_mlp' is not MODEL:BATCH", r.stderr)
        bench = os.path.join(os.path.dirname(SGDBENCH), "bench", "bench_train_step")
        if os.access(bench, os.X_OK):  # a batch size the benchmark does not have: one line, exit 2
            r = subprocess.run([PY, os.path.join(ROOT, "tools", "harness_overhead.py"), "--bench", bench,
                                "--setups", "keras_mnist_mlp:64", "--repetitions", "1"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("--setups: no benchmark matches keras_mnist_mlp:64", r.stderr)
            self.assertNotIn("Traceback", r.stderr)


class CompareMarkdownTest(unittest.TestCase):
    """tools/compare_pytorch.py --markdown: README tables from a --json file, by hand."""

    def run_tool(self, doc, *args):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "cmp.json")
            with open(path, "w") as f:
                f.write(doc if isinstance(doc, str) else json.dumps(doc))
            return subprocess.run([PY, os.path.join(ROOT, "tools", "compare_pytorch.py"), "--markdown", path, *args],
                                  capture_output=True, text=True), path

    def test_tables_by_hand(self):
        def row(m, t, b, s, p, g=0.0):
            return {"model": m, "threads": t, "batch": b, "sgdbench_images_per_second": s,
                    "pytorch_images_per_second": p, "ratio": s / p, "sgdbench_gflops": g}
        doc = {"rows": [row("a", 1, 1, 1000, 100, 50), row("a", 1, 4, 3000, 1000, 90), row("b", 1, 1, 2000, 1000),
                        row("b", 1, 4, 4000, 500), row("a", 2, 1, 800, 200, 60), row("a", 2, 4, 6000, 1500, 300),
                        row("b", 2, 1, 2500, 500), row("b", 2, 4, 4000, 2000)]}
        r, _ = self.run_tool(doc, "--peak", "200,400", "--peak-models", "a")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[:6], [
            "| model | threads | b=1 | b=4 |", "|---|---|---|---|",
            "| a | 1 | 1,000 / 100 = **10.00x** | 3,000 / 1,000 = **3.00x** |",
            "| a | 2 | 800 / 200 = **4.00x** | 6,000 / 1,500 = **4.00x** |",
            "| b | 1 | 2,000 / 1,000 = **2.00x** | 4,000 / 500 = **8.00x** |",
            "| b | 2 | 2,500 / 500 = **5.00x** | 4,000 / 2,000 = **2.00x** |"])
        # Best thread count each side: a at 1: 1000 / 200, at 4: 6000 / 1500; b: 2500 / 1000, 4000 / 2000.
        self.assertEqual(lines[7:11], ["| model | b=1 | b=4 |", "|---|---|---|", "| a | 5.00x | 4.00x |",
                                       "| b | 2.50x | 2.00x |"])
        # (5 x 4 x 2.5 x 2) ** (1/4) = 100 ** 0.25; all 8 cells: 76,800 ** (1/8).
        self.assertEqual(lines[12], "Best thread counts: geometric mean 3.16x over 4 cells; same thread count both "
                                    "sides: 4.08x over 8 cells.")
        self.assertEqual(lines[14:], ["| model | threads | b=1 | b=4 |", "|---|---|---|---|",
                                      "| a | 1 | 50 (25%) | 90 (45%) |", "| a | 2 | 60 (15%) | 300 (75%) |"])

    def test_bad_files_are_named(self):
        for doc, why in (("{", "Expecting"), ({"rows": []}, "no rows"), ([1], "no rows")):
            r, path = self.run_tool(doc)
            self.assertEqual(r.returncode, 2)
            self.assertIn(f"compare_pytorch.py: {path}: {why}", r.stderr)
            self.assertNotIn("Traceback", r.stderr)
        good = {"model": "a", "threads": 1, "batch": 1, "sgdbench_images_per_second": 10,
                "pytorch_images_per_second": 5, "ratio": 2.0}
        for doc, args, why in (({"rows": [{"model": "a"}]}, (), "rows[0] has no threads, batch"),
                               ({"rows": [dict(good, pytorch_images_per_second=0)]}, (), "rows[0]: images/s must"),
                               ({"rows": [good]}, ("--peak", "0"), "--peak: GFLOP/s must be positive"),
                               ({"rows": [good]}, ("--peak", "nan"), "--peak: GFLOP/s must be positive")):
            r, path = self.run_tool(doc, *args)
            self.assertEqual(r.returncode, 2)
            self.assertIn(f"compare_pytorch.py: {path}: {why}", r.stderr)
            self.assertNotIn("Traceback", r.stderr)


if __name__ == "__main__":
    SGDBENCH = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
