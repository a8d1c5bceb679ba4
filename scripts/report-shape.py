#!/usr/bin/env python3
"""Prints a report.json with what changes from run to run masked: times,
ids, seeds, durations, ports and every number, so that two runs of the
same terminal can be compared with diff. Verdicts, details (numbers
masked), evidence keys and strings stay.

Usage: scripts/report-shape.py report.json > shape.txt
"""
import json
import re
import sys

VOLATILE = {"id", "started_at", "finished_at", "checks_finished_at", "seed", "harness_version",
            "asked_at", "answered_at", "run_id"}
NUM = re.compile(r"\d+(\.\d+)?")


def mask(v, key=""):
    if isinstance(v, dict):
        return {k: ("<volatile>" if k in VOLATILE and not isinstance(v[k], (dict, list)) else mask(v[k], k))
                for k in sorted(v)}
    if isinstance(v, list):
        return [mask(x, key) for x in v]
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return "#"
    if isinstance(v, str):
        return NUM.sub("#", v)
    return v


def main():
    r = json.load(open(sys.argv[1]))
    json.dump(mask(r), sys.stdout, indent=1, ensure_ascii=False, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
