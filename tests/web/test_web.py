#!/usr/bin/env python3
"""test_web — the web admin end to end: a throwaway PostgreSQL, dpn-mgmtd on
a free loopback port serving web/, an operator account (tests/lib/web.py),
then the browser cases of tests/web/admin.mjs in Debian's headless Chromium
(playwright-core). Exit status and the closing "N passed, N failed" line are
node's."""
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
import web  # noqa: E402

if __name__ == '__main__':
    sys.stdout.flush()
    sys.exit(web.run_node('tests/web/admin.mjs'))
