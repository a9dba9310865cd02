#!/usr/bin/env python3
"""test_web_calls — the admin's call records and SIP registration
(tests/web/calls.mjs) in headless Chromium against a throwaway PostgreSQL
and dpn-mgmtd (tests/lib/web.py)."""
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
import web  # noqa: E402

if __name__ == '__main__':
    sys.stdout.flush()
    sys.exit(web.run_node('tests/web/calls.mjs'))
