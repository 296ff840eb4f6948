#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The Kubernetes manifests render and pass the offline check; a broken
overlay (replicas differ from the shard count) is refused with its reason.

  test-deploy-manifests.py CHECK_MANIFESTS MANIFESTS_DIR BROKEN_DIR [LAUNCHER]
Exit 77 without kubectl or PyYAML."""
import shutil
import subprocess
import sys

check, manifests, broken = sys.argv[1:4]
launcher = sys.argv[4:5]
if not shutil.which("kubectl"):
    print("no kubectl: skipped")
    sys.exit(77)
try:
    import yaml  # noqa: F401 (check-manifests needs it)
except ImportError:
    print(f"no PyYAML for {sys.executable}: skipped")
    sys.exit(77)

good = subprocess.run([sys.executable, check] + (["--launcher", launcher[0]] if launcher else []) +
                      [manifests], capture_output=True, text=True)
print(good.stdout, good.stderr)
assert good.returncode == 0, "the shipped manifests fail the check"

bad = subprocess.run([sys.executable, check, broken], capture_output=True, text=True)
print(bad.stdout, bad.stderr)
assert bad.returncode == 1, f"broken overlay: exit {bad.returncode}, expected 1"
assert "GPURTSP_SHARD's count 10 differs from replicas 12" in bad.stderr, bad.stderr
print("ok")
