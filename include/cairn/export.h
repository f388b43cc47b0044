// Which symbols libcairn exports. The library is compiled with hidden
// visibility (meson.build), so a consumer can link only what the public
// headers declare between CAIRN_API_BEGIN and CAIRN_API_END; the internals
// of lib/ stay out of the dynamic symbol table, free to change in any
// release. Internal classes that a public header must name (the pimpl
// behind Registry, say) are forward-declared between CAIRN_DETAIL_BEGIN and
// CAIRN_DETAIL_END so that naming them does not export them.
//
// The pragmas go after a header's own #includes: the standard library and
// nlohmann keep their own visibility.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define CAIRN_API_BEGIN _Pragma("GCC visibility push(default)")
#define CAIRN_API_END _Pragma("GCC visibility pop")
#define CAIRN_DETAIL_BEGIN _Pragma("GCC visibility push(hidden)")
#define CAIRN_DETAIL_END _Pragma("GCC visibility pop")
// A member of a public class that only the library calls (a constructor
// taking internal types): not exported.
#define CAIRN_HIDDEN __attribute__((visibility("hidden")))
#else
#define CAIRN_API_BEGIN
#define CAIRN_API_END
#define CAIRN_DETAIL_BEGIN
#define CAIRN_DETAIL_END
#define CAIRN_HIDDEN
#endif
