// A program that uses an installed (or subproject) cairn: built by
// .ci/consumers with CMake (find_package), with meson (dependency('cairn')
// from a subproject) and with pkg-config, and run. Prints "ok <revision>".
#include <cstdio>

#include <cairn/cairn.h>

int main() {
  cairn::Registry reg = cairn::Registry::open_in_memory();
  const cairn::App app = reg.apps().put(cairn::App{.id = "consumer-1", .pools = {"gpu"}});
  if (reg.apps().in_pool("gpu").size() != 1) return 1;
  std::printf("ok %lld (cairn %s)\n", static_cast<long long>(app.revision), cairn::version());
  return 0;
}
