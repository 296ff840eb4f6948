#!/usr/bin/env python3
"""Writes a C source that embeds a binary file as `const unsigned char NAME[]`
plus `const size_t NAME_size`. Used to put nvcc's fatbin inside the plugin."""
import sys

src, dst, name = sys.argv[1:4]
data = open(src, "rb").read()
with open(dst, "w") as out:
    out.write("#include <stddef.h>\n")
    # cuModuleLoadData reads the fatbin header in place: keep it 8-byte aligned.
    out.write(f"__attribute__((aligned(8))) const unsigned char {name}[] = {{\n")
    for i in range(0, len(data), 16):
        out.write("  " + ", ".join(str(b) for b in data[i:i + 16]) + ",\n")
    out.write("};\n")
    out.write(f"const size_t {name}_size = sizeof({name});\n")
