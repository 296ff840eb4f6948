#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gpu-host-suite's arguments: help, and a clear refusal of what is not a
# bundle (it once ran every test against a "bundle" named --help).
set -u
suite=$1
fail() { echo "FAIL: $*"; exit 1; }
out=$("$suite" --help 2>&1) || fail "--help exited $?"
[[ $out == *BUNDLE_DIR* ]] || fail "--help printed no usage: $out"
out=$("$suite" 2>&1) && fail "no argument exited 0"
[[ $out == *BUNDLE_DIR* ]] || fail "no argument printed no usage: $out"
out=$("$suite" --bogus 2>&1) && fail "--bogus exited 0"
empty=$(mktemp -d)
trap 'rm -rf "$empty"' EXIT
out=$("$suite" "$empty" 2>&1)
rc=$?
[[ $rc == 2 ]] || fail "a directory without env.sh exited $rc"
[[ $out == *"is not an unpacked bundle"* ]] || fail "unclear error: $out"
[[ $out != *PASS* && $out != *FAIL* ]] || fail "tests ran: $out"
touch "$empty/env.sh"
out=$("$suite" "$empty" --only 2>&1) && fail "--only without a value exited 0"
[[ $out == *"--only needs"* ]] || fail "unclear error: $out"
"$suite" --binaries | grep -qx 'plugins/gpurtsp/libgstgpurtsp.so' || fail "--binaries lacks the plugin"
echo "ok: usage, no bundle, bad option"
