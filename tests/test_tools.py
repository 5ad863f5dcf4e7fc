#!/usr/bin/python3
"""Tests for tools/plot.py and tools/report.py on a small result set made here with sgdbench
(synthetic data, several seeds, a diverged run), plus the JSON Schema of result files.

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


if __name__ == "__main__":
    SGDBENCH = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
