#!/usr/bin/python3
"""Prints one line per result file in a runs/ directory: run id, status, final-state hash and the
history without its times, so two sweeps can be compared with `=` in the shell tests
(resume_test.sh, interrupt_test.sh). Usage: histories.py RUNS_DIR"""
import glob
import json
import os
import sys

for f in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    d = json.load(open(f))
    h = [{k: v for k, v in p.items() if not k.endswith("seconds")} for p in d["history"]]
    print(d["run_id"], d["status"], d["summary"].get("final_state_hash"), json.dumps(h, sort_keys=True))
