// SPDX-License-Identifier: MIT
/* gpurtsp: the one way GPU libraries are loaded at run time.
 *
 * NVIDIA's libraries (the CUDA driver, NVDECODE, nvJPEG, NVML) come with the
 * driver or the toolkit, not with the build machine, so nothing links them:
 * each user lists the entry points it needs in a table and load_library()
 * opens the library with GModule and fills the table, as upstream nvcodec's
 * loaders do. A missing mandatory entry point makes the library unusable; a
 * missing optional one leaves its slot nullptr. Needs GLib only, no CUDA. */
#pragma once

#include <initializer_list>
#include <string>

namespace gpurtsp {

/* One entry point to resolve: its exported name and the function pointer it
 * is stored in. */
struct LibrarySymbol {
  const char *name;
  void *slot; /* address of a function pointer */
  bool mandatory;

  template <typename Fn>
  static LibrarySymbol mandatory_symbol(const char *name, Fn *&slot) {
    static_assert(sizeof(Fn *) == sizeof(void *));
    return {name, &slot, true};
  }
  template <typename Fn>
  static LibrarySymbol optional_symbol(const char *name, Fn *&slot) {
    static_assert(sizeof(Fn *) == sizeof(void *));
    return {name, &slot, false};
  }
};

/* Table entries for a slot named after its entry point, as in
 * GPURTSP_MANDATORY_SYMBOL(api, cuvidCreateDecoder). */
#define GPURTSP_MANDATORY_SYMBOL(table, name)                                                      \
  gpurtsp::LibrarySymbol::mandatory_symbol(#name, (table).name)
#define GPURTSP_OPTIONAL_SYMBOL(table, name)                                                       \
  gpurtsp::LibrarySymbol::optional_symbol(#name, (table).name)

/* Opens @file (a name the dynamic linker searches for, or a path) with local
 * binding and resolves @symbols into their slots. On success the library stays
 * loaded until the process exits (handles and callbacks into it may live that
 * long); optional symbols it lacks are left nullptr. On failure every slot is
 * nullptr, the library is closed again and @why says what went wrong:
 * "cannot load FILE: REASON" or "FILE lacks SYMBOL". */
bool load_library(const char *file, std::initializer_list<LibrarySymbol> symbols, std::string &why);

} // namespace gpurtsp
