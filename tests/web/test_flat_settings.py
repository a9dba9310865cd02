#!/usr/bin/env python3
"""test_flat_settings — the flat page's reachability and call settings in
headless Chromium (tests/web/flat_settings.mjs) against a throwaway
PostgreSQL and dpn-mgmtd (tests/lib/web.py)."""
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
import web  # noqa: E402

if __name__ == '__main__':
    sys.stdout.flush()
    sys.exit(web.run_node('tests/web/flat_settings.mjs'))
