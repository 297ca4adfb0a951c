#!/usr/bin/env python3
"""Counts the test cases of meson junit logs (gtest cases count one by one) and prints
'N passed, N failed[, N skipped]'. Exits 1 when a log is missing or anything failed."""
import sys
import xml.etree.ElementTree as ET

roots = []
for path in sys.argv[1:]:
    try:
        roots.append(ET.parse(path).getroot())
    except (OSError, ET.ParseError) as e:
        print(f"no test log: {e}")
        sys.exit(1)
passed = failed = skipped = 0
for case in (c for root in roots for c in root.iter("testcase")):
    if case.find("failure") is not None or case.find("error") is not None:
        failed += 1
    elif case.find("skipped") is not None:
        skipped += 1
    else:
        passed += 1
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
sys.exit(1 if failed or passed == 0 else 0)
