// The README's Quick start, as a program that CI compiles and runs
// (meson test quick_start). Usage: quick_start [REGISTRY.db]
#include <cairn/cairn.h>

#include <cstdio>
#include <filesystem>

int main(int argc, char** argv) {
  const std::filesystem::path path = argc > 1 ? argv[1] : "quick-start.db";
  auto reg = cairn::Registry::open(path);  // WAL, synchronous=FULL; created when missing

  // Change events, after commit, on a delivery thread of their own.
  auto sub = reg.subscribe({.kinds = {cairn::Kind::app}}, [](std::span<const cairn::Event> evs) {
    for (const auto& e : evs) {
      std::printf("event: revision %lld %s %s\n", static_cast<long long>(e.revision),
                  e.topic.c_str(), e.id.c_str());
    }
  });

  reg.pools().put({.name = "shared", .type = cairn::PoolType::global});
  auto app = reg.apps().put({.id = "render-1", .pools = {"shared"}, .meta = {{"gpu", true}}});

  // One transaction, one revision, all or nothing.
  reg.transact([&](cairn::Tx& tx) {
    tx.blocks().put({.id = "frame-cache", .pool = "shared", .size = 1 << 20});
    tx.apps().update("render-1", [](cairn::App& a) { a.meta["ready"] = true; });
  });

  // Compare-and-swap on the record's revision: `app` is the copy from before
  // the transaction, so the registry has moved on and the put is refused.
  try {
    reg.apps().put(app, cairn::Expect{.revision = app.revision});
  } catch (const cairn::Error& e) {
    if (e.code() != cairn::errc::conflict) throw;
    std::printf("refused, as it should be: %s\n", e.what());
  }

  reg.config().save("server", {{"port", 7000}});
  reg.wait_for(reg.revision());  // let the subscriber print before main returns
}
