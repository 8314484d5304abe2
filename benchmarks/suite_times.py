r"""Where ``make test``'s time goes: per test module, from pytest's JUnit XML, one run or two side by side.

Wall time of the whole run says as much about the other work on a shared machine as about the
suite; the sum of the per-test durations (setup + call + teardown, what ``--junitxml`` records) and
the per-module shares compare better between a run before and a run after a change.

    make test && cp build/test-times.xml before.xml    # make test writes build/test-times.xml
    ... change ..., make test again
    python benchmarks/suite_times.py before.xml build/test-times.xml

Prints one line per module (tests, seconds; with two files the second run's and the ratio), the
heaviest first, then the totals and the outcome counts. ``--durations tests/durations.json`` also
writes each test's seconds of the first run there: ``make test``'s workers take the longest
modules first by that file (tests/conftest.py).
"""
from __future__ import annotations

import argparse
import collections
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field


@dataclass
class Run:
    """Per-module sums of one JUnit XML report."""
    seconds: dict[str, float] = field(default_factory=lambda: collections.defaultdict(float))
    tests: collections.Counter = field(default_factory=collections.Counter)
    outcomes: collections.Counter = field(default_factory=collections.Counter)

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def module_of(classname: str) -> str:
    """``tests.test_x.TestY`` or ``test_x`` -> ``test_x`` (nbval items: the notebook's path)."""
    parts = classname.split(".")
    return parts[1] if parts[0] == "tests" and len(parts) > 1 else parts[0] or "?"


def load(path: str) -> Run:
    """Sum the test cases of ``path`` by module.

    Examples:
        >>> import tempfile, os
        >>> xml = ('<testsuites><testsuite><testcase classname="tests.test_a" time="1.5"/>'
        ...        '<testcase classname="test_a" time="0.5"><skipped/></testcase></testsuite></testsuites>')
        >>> with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as f:
        ...     _ = f.write(xml)
        >>> run = load(f.name); os.unlink(f.name)
        >>> dict(run.seconds), dict(run.outcomes)
        ({'test_a': 2.0}, {'passed': 1, 'skipped': 1})
    """
    run = Run()
    for case in ET.parse(path).getroot().iter("testcase"):
        module = module_of(case.get("classname", ""))
        run.seconds[module] += float(case.get("time", 0) or 0)
        run.tests[module] += 1
        failed = case.find("failure") is not None or case.find("error") is not None
        run.outcomes["failed" if failed else "skipped" if case.find("skipped") is not None else "passed"] += 1
    return run


def durations(path: str) -> dict[str, float]:
    """Each test's seconds in ``path``, keyed ``classname::name``.

    Examples:
        >>> import tempfile, os
        >>> xml = ('<testsuites><testsuite><testcase classname="tests.test_a" name="test_b[x]" '
        ...        'time="1.25"/></testsuite></testsuites>')
        >>> with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as f:
        ...     _ = f.write(xml)
        >>> found = durations(f.name); os.unlink(f.name)
        >>> found
        {'tests.test_a::test_b[x]': 1.25}
    """
    return {f"{case.get('classname', '')}::{case.get('name', '')}": round(float(case.get("time", 0) or 0), 2)
            for case in ET.parse(path).getroot().iter("testcase")}


def table(before: Run, after: Run | None = None) -> str:
    """One line per module, the heaviest of ``before`` first; totals last."""
    names = sorted(set(before.seconds) | set(after.seconds if after else ()), key=lambda m: -before.seconds.get(m, 0))
    lines = []
    for m in names:
        line = f"{m:36s} {before.tests[m]:4d} {before.seconds.get(m, 0):8.1f} s"
        if after is not None:
            b, a = before.seconds.get(m, 0), after.seconds.get(m, 0)
            line += f"   {after.tests[m]:4d} {a:8.1f} s   {a / b if b else float('nan'):5.2f}"
        lines.append(line)
    total = f"{'total (sum of test durations)':36s} {sum(before.tests.values()):4d} {before.total:8.1f} s"
    if after is not None:
        total += f"   {sum(after.tests.values()):4d} {after.total:8.1f} s   {after.total / before.total:5.2f}"
    lines += [total, "outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(before.outcomes.items()))
              + ("  ->  " + ", ".join(f"{k} {v}" for k, v in sorted(after.outcomes.items())) if after else "")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", help="JUnit XML of a run (pytest --junitxml)")
    parser.add_argument("after", nargs="?", help="JUnit XML of a second run, to compare")
    parser.add_argument("--durations", metavar="JSON", help="also write each test's seconds in BEFORE to JSON "
                        "(tests/durations.json: the order make test's workers take the modules in)")
    args = parser.parse_args(argv)
    if args.durations:
        with open(args.durations, "w", encoding="utf-8") as f:
            json.dump(durations(args.before), f, indent=0, sort_keys=True)
            f.write("\n")
    print(table(load(args.before), load(args.after) if args.after else None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
