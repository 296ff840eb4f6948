#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Embeds nvcc's fatbin in the plugin: writes a C source defining
`const unsigned char NAME[]` and the header that declares it, so host code
is tied to its kernels by an include rather than a hand-written extern."""
import os
import sys

src, out_c, out_h, name = sys.argv[1:5]
data = open(src, "rb").read()
with open(out_h, "w") as out:
    out.write(f"/* Generated from {os.path.basename(src)} by embed-fatbin.py. */\n")
    out.write("#pragma once\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n")
    # cuModuleLoadData reads the size from the fatbin's own header.
    out.write(f"extern const unsigned char {name}[];\n")
    out.write("#ifdef __cplusplus\n}\n#endif\n")
with open(out_c, "w") as out:
    out.write(f'#include "{os.path.basename(out_h)}"\n\n')
    # cuModuleLoadData reads the fatbin header in place: keep it 8-byte aligned.
    out.write(f"__attribute__((aligned(8))) const unsigned char {name}[] = {{\n")
    for i in range(0, len(data), 16):
        out.write("  " + ", ".join(str(b) for b in data[i:i + 16]) + ",\n")
    out.write("};\n")
