#!/usr/bin/env python3
"""Summarize a fuzzing log written by run.sh: coverage over time and when it last grew.

Each log line starts with the seconds since the run began, which run.sh
adds to libFuzzer's output. The growth of covered edges (libFuzzer's `cov`)
over the last doubling of executions tells whether a target has plateaued.

Usage: coverage.py LOG [LOG...]
"""

import re
import sys

EVENT = re.compile(r"^(\d+) #(\d+)\s+(?:INITED|NEW|REDUCE|pulse)\s+cov: (\d+) ft: (\d+)")
MINUTES = (1, 5, 10, 15, 20, 30, 45, 60, 75, 90)


def summarize(path):
    events = []
    with open(path, errors="replace") as log:
        for line in log:
            match = EVENT.match(line)
            if match:
                events.append(tuple(int(group) for group in match.groups()))
    if not events:
        print(f"{path}: no coverage lines; was it written by fuzz/run.sh?")
        return
    seconds, executions, cov, ft = events[-1]
    last_growth = events[0]
    for event in events:
        if event[2] > last_growth[2]:
            last_growth = event
    print(f"{path}: {seconds} s, {executions:,} executions, cov {cov}, ft {ft}")
    print(f"  cov last grew at {last_growth[0]} s and {last_growth[1]:,} executions, to {last_growth[2]}")
    if seconds > 0:
        quiet_seconds = seconds - last_growth[0]
        print(f"  no new edge for the last {quiet_seconds} s ({100 * quiet_seconds / seconds:.0f} % of the run)"
              f" and {executions - last_growth[1]:,} executions")
    halfway = [event for event in events if event[1] <= executions / 2][-1]
    if halfway[2] > 0:
        print(f"  last doubling of executions: cov {halfway[2]} to {cov},"
              f" {100 * (cov - halfway[2]) / halfway[2]:.1f} % more")
    for minute in MINUTES:
        if minute * 60 > seconds:
            break
        latest = [event for event in events if event[0] <= minute * 60][-1]
        print(f"  {minute:3} min: cov {latest[2]}, ft {latest[3]}, {latest[1]:,} executions")


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: coverage.py LOG [LOG...]")
    for path in sys.argv[1:]:
        summarize(path)


if __name__ == "__main__":
    main()
