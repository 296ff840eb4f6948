// SPDX-License-Identifier: MIT
#include "core/library-loader.h"

#include <gmodule.h>

#include <cstring>

namespace gpurtsp {

namespace {

void store(const LibrarySymbol &symbol, gpointer address) {
  /* A function pointer's bytes, written without type punning. */
  std::memcpy(symbol.slot, &address, sizeof(address));
}

} // namespace

bool load_library(const char *file, std::initializer_list<LibrarySymbol> symbols,
                  std::string &why) {
  for (const LibrarySymbol &symbol : symbols)
    store(symbol, nullptr);

  /* Local binding: nothing else in the process should bind to these symbols. */
  GModule *module = g_module_open(file, G_MODULE_BIND_LOCAL);
  if (!module) {
    /* dlerror()'s text usually starts with the file name already. */
    const std::string error = g_module_error() ? g_module_error() : "unknown error";
    why = "cannot load " + (error.rfind(file, 0) == 0 ? error : file + (": " + error));
    return false;
  }
  for (const LibrarySymbol &symbol : symbols) {
    gpointer address = nullptr;
    if (!g_module_symbol(module, symbol.name, &address) || !address) {
      if (!symbol.mandatory)
        continue;
      why = std::string(file) + " lacks " + symbol.name;
      for (const LibrarySymbol &filled : symbols)
        store(filled, nullptr);
      g_module_close(module);
      return false;
    }
    store(symbol, address);
  }
  g_module_make_resident(module);
  return true;
}

} // namespace gpurtsp
