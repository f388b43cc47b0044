// The key-value namespaces (Lampo's Persister, leptos-state's StorageBackend):
// put/get/find/exists/erase, versions and compare-and-swap, prefix listing with
// keyset paging over 10,000 keys (the keys of each prefix exactly once, in
// byte order, none outside: "a/" against "a0", "a." and multi-byte UTF-8
// keys), erase_prefix, clear, info, put_many as one transaction, binary
// values, the value size limit, key and namespace validation, TTL with a
// clock the test moves (never a sleep for a TTL), purge_expired and the
// background purge, isolation of namespaces, and transactions.
//
// The 10,000 keys are drawn from CAIRN_SEED when set; the seed is printed.
// The one wait (the background purge) is bounded and asserts no duration.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cairn/cairn.h"
#include "test_util.h"

using cairn::errc;
using cairn::KvEntry;
using cairn::KvItem;
using cairn::KvQuery;
using cairn::KvWriteOptions;
using cairn::Op;
using nlohmann::json;
using test::error_code_of;
using test::error_of;
using namespace std::chrono_literals;

namespace {

using Keys = std::vector<std::string>;

std::uint64_t seed() {
  static const std::uint64_t s = [] {
    const char* env = std::getenv("CAIRN_SEED");
    const std::uint64_t v = env ? std::strtoull(env, nullptr, 10) : std::random_device{}();
    std::cout << "stores_kv_test: CAIRN_SEED=" << v << "\n";
    return v;
  }();
  return s;
}

// A registry with a test clock whose background purge does not run on its
// own during a test (it would race with the test's own purge_expired()),
// unless the test asks for a short interval.
template <class Mode>
struct KvFixture {
  explicit KvFixture(int purge_interval_ms = 3'600'000, std::size_t max_value = 1u << 20)
      : reg(Mode::open(dir, options(purge_interval_ms, max_value))) {}

  cairn::Options options(int purge_interval_ms, std::size_t max_value) const {
    cairn::Options o;
    o.synchronous = cairn::Synchronous::normal;
    o.actor = "test-actor";
    o.clock = clock.fn();
    o.purge_interval_ms = purge_interval_ms;
    o.max_kv_value_bytes = max_value;
    return o;
  }

  test::TempDir dir;
  test::TestClock clock;
  cairn::Registry reg;
};

KvWriteOptions expect(std::int64_t version) {
  return KvWriteOptions{.expect_version = version, .ttl_ms = {}};
}
KvWriteOptions ttl(std::int64_t ms) { return KvWriteOptions{.expect_version = {}, .ttl_ms = ms}; }

KvQuery prefixed(std::string prefix, std::string after = {}, std::size_t limit = 0) {
  return KvQuery{.prefix = std::move(prefix), .after = std::move(after), .limit = limit};
}

Keys keys(const std::vector<KvEntry>& entries) {
  return test::keys_of(entries, [](const KvEntry& e) { return e.key; });
}

std::string all_bytes() {
  std::string v;
  for (int i = 0; i < 256; ++i) v += static_cast<char>(i);
  v += std::string("\0\0\xff\0", 4);
  return v;
}

}  // namespace

TEST_CASE_TEMPLATE("kv: put, get, find, exists and erase", Mode, test::InMemory, test::OnDisk) {
  KvFixture<Mode> f;
  auto kv = f.reg.kv("app.settings");
  CHECK(kv.name_space() == "app.settings");
  CHECK_FALSE(kv.find("theme").has_value());
  CHECK_FALSE(kv.exists("theme"));
  CHECK(error_code_of([&] { kv.get("theme"); }) == errc::not_found);
  CHECK_FALSE(kv.erase("theme"));
  CHECK(f.reg.revision() == 0);

  KvEntry put = kv.put("theme", "dark");
  CHECK(put.name_space == "app.settings");
  CHECK(put.key == "theme");
  CHECK(put.value == "dark");
  CHECK(put.version == 1);
  CHECK_FALSE(put.expires_at.has_value());
  CHECK(put.created_at == f.clock.now());
  CHECK(put.revision == f.reg.revision());

  CHECK(test::image(kv.get("theme")) == test::image(put));
  REQUIRE(kv.find("theme").has_value());
  CHECK(kv.exists("theme"));

  f.clock.advance(3);
  KvEntry second = kv.put("theme", "light");
  CHECK(second.version == 2);
  CHECK(second.created_at == put.created_at);
  CHECK(second.updated_at == put.created_at + 3);
  CHECK(kv.put("theme", "").version == 3);  // an empty value is a value
  CHECK(kv.get("theme").value.empty());
  CHECK(kv.exists("theme"));

  CHECK(kv.erase("theme"));
  CHECK_FALSE(kv.exists("theme"));
  CHECK_FALSE(kv.erase("theme"));
  // Written again after an erase: a new entry, version 1.
  CHECK(kv.put("theme", "x").version == 1);
}

TEST_CASE_TEMPLATE("kv: kv.put and kv.removed events with <namespace>/<key> ids", Mode,
                   test::InMemory, test::OnDisk) {
  KvFixture<Mode> f;
  auto kv = f.reg.kv("ns");
  KvEntry first = kv.put("dir/key", std::string("v\0", 2));
  auto events = test::events_at(f.reg, first.revision);
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == cairn::Kind::kv);
  CHECK(events[0].topic == "kv.put");
  CHECK(events[0].op == Op::created);
  CHECK(events[0].id == "ns/dir/key");
  CHECK(events[0].actor == "test-actor");
  CHECK_FALSE(events[0].before.has_value());
  REQUIRE(events[0].after.has_value());
  CHECK(*events[0].after == test::image(first));
  CHECK(events[0].after->at("value_base64") == "dgA=");

  KvEntry second = kv.put("dir/key", "w");
  events = test::events_at(f.reg, second.revision);
  REQUIRE(events.size() == 1);
  CHECK(events[0].topic == "kv.put");
  CHECK(events[0].op == Op::updated);
  REQUIRE(events[0].before.has_value());
  CHECK(events[0].before->at("version") == 1);
  CHECK(events[0].after->at("version") == 2);

  CHECK(kv.erase("dir/key"));
  events = test::events_at(f.reg, f.reg.revision());
  REQUIRE(events.size() == 1);
  CHECK(events[0].topic == "kv.removed");
  CHECK(events[0].op == Op::removed);
  CHECK(events[0].id == "ns/dir/key");
  REQUIRE(events[0].before.has_value());
  CHECK(events[0].before->at("version") == 2);
  CHECK_FALSE(events[0].after.has_value());
}

TEST_CASE_TEMPLATE("kv: compare-and-swap with expect_version", Mode, test::InMemory, test::OnDisk) {
  KvFixture<Mode> f;
  auto kv = f.reg.kv("cas");

  // 0: only when absent.
  CHECK(kv.put("k", "a", expect(0)).version == 1);
  CHECK(error_code_of([&] { kv.put("k", "b", expect(0)); }) == errc::conflict);
  CHECK(kv.get("k").value == "a");
  // The current version wins, any other is a conflict.
  CHECK(kv.put("k", "b", expect(1)).version == 2);
  for (std::int64_t wrong : {1, 3, 100}) {
    CAPTURE(wrong);
    auto e = error_of([&] { kv.put("k", "c", expect(wrong)); });
    REQUIRE(e.has_value());
    CHECK(test::code(*e) == errc::conflict);
    CHECK(test::contains(e->what(), "cas/k"));
  }
  CHECK(kv.get("k").value == "b");
  CHECK(kv.get("k").version == 2);
  // An absent entry is at version 0.
  CHECK(error_code_of([&] { kv.put("absent", "x", expect(1)); }) == errc::conflict);
  CHECK_FALSE(kv.exists("absent"));
  CHECK(error_code_of([&] { kv.put("k", "x", expect(-1)); }) == errc::invalid_argument);

  SUBCASE("erase with expect_version") {
    const auto rev = f.reg.revision();
    CHECK(error_code_of([&] { kv.erase("k", 1); }) == errc::conflict);
    CHECK(error_code_of([&] { kv.erase("k", 0); }) == errc::conflict);
    CHECK(kv.exists("k"));
    CHECK(f.reg.revision() == rev);
    CHECK(kv.erase("k", 2));
    CHECK_FALSE(kv.exists("k"));
    CHECK(error_code_of([&] { kv.erase("k", 2); }) == errc::conflict);
    CHECK_FALSE(kv.erase("k", 0));  // absent, as expected: nothing to remove
  }
}

TEST_CASE("kv: list by prefix with keyset paging over 10,000 keys") {
  // On disk only: the in-memory registry runs the same SQL, and the smaller
  // list tests below run in both modes.
  KvFixture<test::OnDisk> f;
  auto kv = f.reg.kv("big");
  std::mt19937_64 rng(seed());
  // Stems around the prefixes under test: "a." < "a/" < "a0" bytewise, and
  // multi-byte UTF-8 (é, U+10FFFF: the highest bytes a valid key can hold).
  const Keys stems = {"a/",        "a0", "a.", "a",   "a/b/",   "a/\xc3\xa9", "a/\xf4\x8f\xbf\xbf",
                      "\xc3\xa9/", "b/", "A/", "a//", "a/\x7e", "ab"};
  const std::string alphabet = "abcz019/._-~ ";
  std::set<std::string> all = {"a/", "a", "a0", "a.", "\xf4\x8f\xbf\xbf"};
  while (all.size() < 10'000) {
    std::string key = stems[rng() % stems.size()];
    const std::size_t n = rng() % 12;
    for (std::size_t i = 0; i < n; ++i) key += alphabet[rng() % alphabet.size()];
    all.insert(key);
  }
  std::vector<KvItem> items;
  for (const auto& key : all) {
    items.push_back(KvItem{.key = key, .value = "v:" + key, .options = {}});
    if (items.size() == 1000) {
      kv.put_many(items);
      items.clear();
    }
  }
  kv.put_many(items);
  // Another namespace with the same keys: must never show up.
  f.reg.kv("big2").put_many({KvItem{.key = "a/zzz-other", .value = "x", .options = {}}});
  f.reg.kv("bi").put_many({KvItem{.key = "g/a/", .value = "x", .options = {}}});

  REQUIRE(kv.info().entries == 10'000);

  const Keys prefixes = {"",   "a",        "a/",         "a/b/",           "a0",
                         "a.", "\xc3\xa9", "a/\xc3\xa9", "a/\xf4\x8f\xbf", "\xf4",
                         "A",  "zzz",      "a/\x7e"};
  for (const std::string& prefix : prefixes) {
    CAPTURE(prefix);
    Keys expected;
    for (const auto& key : all) {
      if (key.compare(0, prefix.size(), prefix) == 0) expected.push_back(key);
    }
    CHECK(keys(kv.list(prefixed(prefix))) == expected);
    for (std::size_t limit : {1u, 7u, 100u, 1000u}) {
      // Small pages over the narrower prefixes only: each page costs a scan
      // from the prefix's start today (see the report on kListRange), which
      // makes a walk of 10,000 one-key pages quadratic.
      if (limit < 100 && expected.size() > 2000) continue;
      CAPTURE(limit);
      Keys seen;
      std::string after;
      std::size_t pages = 0, oversized = 0;
      for (;;) {
        auto page = kv.list(prefixed(prefix, after, limit));
        if (page.empty()) break;
        ++pages;
        oversized += page.size() > limit;
        for (const auto& e : page) seen.push_back(e.key);
        after = page.back().key;
        REQUIRE(pages <= expected.size() + 1);
      }
      CHECK(oversized == 0);
      CHECK(seen == expected);  // every key exactly once, in byte order, none outside
    }
  }
  // Values come with the keys.
  auto page = kv.list(prefixed("a/", {}, 3));
  REQUIRE(page.size() == 3);
  for (const auto& e : page) CHECK(e.value == "v:" + e.key);
}

TEST_CASE_TEMPLATE("kv: list with an after outside the prefix's range", Mode, test::InMemory,
                   test::OnDisk) {
  // A guard for any rewrite of the paging query (e.g. one lower bound
  // instead of two): `after` below, at, inside and above the prefix.
  KvFixture<Mode> f;
  auto kv = f.reg.kv("ns");
  for (const char* key : {"a", "b", "b/", "b/1", "b/2", "b0", "c"}) kv.put(key, "v");
  CHECK(keys(kv.list(prefixed("b/", ""))) == Keys{"b/", "b/1", "b/2"});
  CHECK(keys(kv.list(prefixed("b/", "a"))) == Keys{"b/", "b/1", "b/2"});
  CHECK(keys(kv.list(prefixed("b/", "b"))) == Keys{"b/", "b/1", "b/2"});
  CHECK(keys(kv.list(prefixed("b/", "b/"))) == Keys{"b/1", "b/2"});
  CHECK(keys(kv.list(prefixed("b/", "b/1"))) == Keys{"b/2"});
  CHECK(keys(kv.list(prefixed("b/", "b/15"))) == Keys{"b/2"});
  CHECK(keys(kv.list(prefixed("b/", "b/2"))).empty());
  CHECK(keys(kv.list(prefixed("b/", "b0"))).empty());
  CHECK(keys(kv.list(prefixed("b/", "zzz"))).empty());
  CHECK(keys(kv.list(prefixed("", "b/2"))) == Keys{"b0", "c"});
  CHECK(keys(kv.list(prefixed("b/", "a", 2))) == Keys{"b/", "b/1"});
}

TEST_CASE_TEMPLATE("kv: erase_prefix, clear and info", Mode, test::InMemory, test::OnDisk) {
  KvFixture<Mode> f;
  auto kv = f.reg.kv("ns");
  kv.put("a/1", "x");
  kv.put("a/2", "yy");
  kv.put("a0", "zzz");
  kv.put("a", "");
  kv.put("caf\xc3\xa9", "1234");  // 5 bytes of key
  f.reg.kv("other").put("a/1", "not mine");

  cairn::KvInfo info = kv.info();
  CHECK(info.entries == 5);
  CHECK(info.bytes == (3 + 1) + (3 + 2) + (2 + 3) + (1 + 0) + (5 + 4));

  const auto rev = f.reg.revision();
  CHECK(kv.erase_prefix("a/") == 2);
  CHECK(f.reg.revision() == rev + 1);  // one transaction
  auto events = test::events_at(f.reg, rev + 1);
  REQUIRE(events.size() == 2);
  CHECK(events[0].topic == "kv.removed");
  CHECK(events[0].id == "ns/a/1");
  CHECK(events[1].id == "ns/a/2");
  CHECK(keys(kv.list()) == Keys{"a", "a0", "caf\xc3\xa9"});
  CHECK(kv.erase_prefix("a/") == 0);
  CHECK(kv.erase_prefix("zz") == 0);
  CHECK(kv.info().entries == 3);

  CHECK(kv.clear() == 3);
  CHECK(kv.list().empty());
  CHECK(kv.info().entries == 0);
  CHECK(kv.info().bytes == 0);
  CHECK(f.reg.kv("other").get("a/1").value == "not mine");
  CHECK(f.reg.kv("other").info().entries == 1);
  CHECK(kv.clear() == 0);
}

TEST_CASE_TEMPLATE("kv: put_many is one transaction, and all or nothing", Mode, test::InMemory,
                   test::OnDisk) {
  KvFixture<Mode> f;
  auto kv = f.reg.kv("batch");
  kv.put("existing", "old");
  const auto rev = f.reg.revision();

  SUBCASE("one revision for every item, in order") {
    auto stored = kv.put_many({
        KvItem{.key = "k1", .value = "1", .options = {}},
        KvItem{.key = "existing", .value = "new", .options = expect(1)},
        KvItem{.key = "k2", .value = "2", .options = ttl(5000)},
        KvItem{.key = "k1", .value = "1b", .options = {}},
    });
    REQUIRE(stored.size() == 4);
    CHECK(f.reg.revision() == rev + 1);
    for (const auto& e : stored) CHECK(e.revision == rev + 1);
    CHECK(stored[0].version == 1);
    CHECK(stored[1].version == 2);
    CHECK(stored[2].expires_at == f.clock.now() + 5000);
    CHECK(stored[3].version == 2);
    CHECK(kv.get("k1").value == "1b");
    CHECK(kv.get("existing").value == "new");
    CHECK(test::events_at(f.reg, rev + 1).size() == 4);
  }
  SUBCASE("an invalid item in the middle writes none") {
    for (const std::string& bad_key :
         {std::string(""), std::string("bad\x01"), std::string("\xff\xfe")}) {
      CAPTURE(bad_key);
      auto e = error_of([&] {
        kv.put_many({KvItem{.key = "k1", .value = "1", .options = {}},
                     KvItem{.key = bad_key, .value = "x", .options = {}},
                     KvItem{.key = "k3", .value = "3", .options = {}}});
      });
      REQUIRE(e.has_value());
      CHECK(test::code(*e) == errc::invalid_argument);
      CHECK(test::contains(e->what(), "key"));
    }
    CHECK(f.reg.revision() == rev);
    CHECK(keys(kv.list()) == Keys{"existing"});
  }
  SUBCASE("a compare-and-swap that fails in the middle writes none") {
    auto e = error_of([&] {
      kv.put_many({KvItem{.key = "k1", .value = "1", .options = {}},
                   KvItem{.key = "existing", .value = "x", .options = expect(7)},
                   KvItem{.key = "k3", .value = "3", .options = {}}});
    });
    REQUIRE(e.has_value());
    CHECK(test::code(*e) == errc::conflict);
    CHECK(f.reg.revision() == rev);
    CHECK(keys(kv.list()) == Keys{"existing"});
    CHECK(kv.get("existing").value == "old");
  }
  SUBCASE("an empty batch writes nothing") {
    CHECK(kv.put_many({}).empty());
    CHECK(f.reg.revision() == rev);
  }
}

TEST_CASE_TEMPLATE("kv: binary values keep every byte", Mode, test::InMemory, test::OnDisk) {
  KvFixture<Mode> f;
  auto kv = f.reg.kv("bin");
  const std::string value = all_bytes();
  kv.put("all", value);
  CHECK(kv.get("all").value == value);
  CHECK(kv.get("all").value.size() == 260);
  kv.put("nul", std::string(1000, '\0'));
  CHECK(kv.get("nul").value == std::string(1000, '\0'));
  CHECK(kv.list(prefixed("a")).at(0).value == value);
  CHECK(kv.info().bytes == 3 + 260 + 3 + 1000);
  // And through the JSON form.
  const json image = test::image(kv.get("all"));
  KvEntry back = image.get<KvEntry>();
  CHECK(back.value == value);
  json spoiled = test::image(kv.get("all"));
  spoiled["value_base64"] = "not base64!";
  CHECK(error_code_of([&] { spoiled.get<KvEntry>(); }) == errc::invalid_argument);
}

TEST_CASE_TEMPLATE("kv: values up to max_kv_value_bytes", Mode, test::InMemory, test::OnDisk) {
  SUBCASE("the default, 1 MiB") {
    KvFixture<Mode> f;
    auto kv = f.reg.kv("big");
    const std::string at_limit(1u << 20, '\xab');
    CHECK(kv.put("k", at_limit).value.size() == 1u << 20);
    CHECK(kv.get("k").value == at_limit);
    const auto rev = f.reg.revision();
    auto e = error_of([&] { kv.put("k", at_limit + "x"); });
    REQUIRE(e.has_value());
    CHECK(test::code(*e) == errc::invalid_argument);
    CHECK(test::contains(e->what(), "value"));
    CHECK(error_code_of([&] {
            kv.put_many({KvItem{.key = "k2", .value = at_limit + "x", .options = {}}});
          }) == errc::invalid_argument);
    CHECK(f.reg.revision() == rev);
    CHECK(kv.get("k").value == at_limit);
  }
  SUBCASE("a smaller limit from Options") {
    KvFixture<Mode> f(3'600'000, 10);
    auto kv = f.reg.kv("small");
    CHECK(kv.put("k", std::string(10, 'x')).version == 1);
    CHECK(error_code_of([&] { kv.put("k", std::string(11, 'x')); }) == errc::invalid_argument);
    CHECK(kv.get("k").value.size() == 10);
  }
}

TEST_CASE_TEMPLATE("kv: bad keys and bad namespaces are refused", Mode, test::InMemory,
                   test::OnDisk) {
  KvFixture<Mode> f;
  auto kv = f.reg.kv("ns");
  const std::vector<std::pair<const char*, std::string>> bad_keys = {
      {"empty", ""},
      {"1025 bytes", std::string(1025, 'k')},
      {"NUL", std::string("a\0b", 3)},
      {"control 0x01", "a\x01"},
      {"newline", "a\nb"},
      {"tab", "\tb"},
      {"DEL", "a\x7f"},
      {"lone continuation byte", "a\x80"},
      {"truncated sequence", "caf\xc3"},
      {"0xff", "\xff"},
      {"overlong slash", "\xc0\xaf"},
      {"surrogate", "\xed\xa0\x80"},
      {"past U+10FFFF", "\xf4\x90\x80\x80"},
  };
  for (const auto& [what, key] : bad_keys) {
    CAPTURE(what);
    auto e = error_of([&] { kv.put(key, "v"); });
    REQUIRE(e.has_value());
    CHECK(test::code(*e) == errc::invalid_argument);
    CHECK(test::contains(e->what(), "key"));
  }
  CHECK(f.reg.revision() == 0);
  // The edges that are fine.
  CHECK(kv.put(std::string(1024, 'k'), "v").version == 1);
  CHECK(kv.put("spaces and ~!#$%^&*() \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf", "v").version == 1);
  CHECK(kv.put("/leading/slash", "v").version == 1);
  CHECK(kv.put(".dot", "v").version == 1);

  for (const std::string& ns :
       {std::string(""), std::string("/x"), std::string(".x"), std::string("a b"),
        std::string(129, 'n'), std::string("caf\xc3\xa9"), std::string("x\0y", 3)}) {
    CAPTURE(ns);
    auto e = error_of([&] { f.reg.kv(ns).put("k", "v"); });
    REQUIRE(e.has_value());
    CHECK(test::code(*e) == errc::invalid_argument);
    CHECK(test::contains(e->what(), "namespace"));
  }
  CHECK(f.reg.kv(std::string(128, 'n')).put("k", "v").version == 1);
  CHECK(error_code_of([&] { kv.put("k", "v", ttl(0)); }) == errc::invalid_argument);
  CHECK(error_code_of([&] { kv.put("k", "v", ttl(-5)); }) == errc::invalid_argument);
}

TEST_CASE_TEMPLATE("kv: an entry with a TTL vanishes at expires_at, at once", Mode, test::InMemory,
                   test::OnDisk) {
  KvFixture<Mode> f;
  auto kv = f.reg.kv("ttl");
  const cairn::Timestamp t0 = f.clock.now();
  KvEntry e = kv.put("session/1", "token", ttl(1000));
  kv.put("forever", "x");
  REQUIRE(e.expires_at.has_value());
  CHECK(*e.expires_at == t0 + 1000);

  f.clock.set(t0 + 999);
  CHECK(kv.exists("session/1"));
  CHECK(kv.get("session/1").value == "token");
  CHECK(keys(kv.list()) == Keys{"forever", "session/1"});
  CHECK(kv.info().entries == 2);

  for (cairn::Timestamp at : {t0 + 1000, t0 + 1001, t0 + 100'000}) {
    CAPTURE(at - t0);
    f.clock.set(at);
    CHECK_FALSE(kv.exists("session/1"));
    CHECK_FALSE(kv.find("session/1").has_value());
    CHECK(error_code_of([&] { kv.get("session/1"); }) == errc::not_found);
    CHECK(keys(kv.list()) == Keys{"forever"});
    CHECK(keys(kv.list(prefixed("session/"))).empty());
    CHECK(kv.info().entries == 1);
    CHECK(kv.info().bytes == 7 + 1);  // "forever" + "x"
  }

  SUBCASE("compare-and-swap treats it as absent") {
    CHECK(error_code_of([&] { kv.put("session/1", "x", expect(1)); }) == errc::conflict);
    CHECK(error_code_of([&] { kv.erase("session/1", 1); }) == errc::conflict);
    KvEntry again = kv.put("session/1", "new", expect(0));
    CHECK(again.version == 1);  // a new entry, not version 2
    CHECK(again.created_at == f.clock.now());
    CHECK_FALSE(again.expires_at.has_value());
    CHECK(kv.get("session/1").value == "new");
  }
  SUBCASE("a put over it starts again at version 1") {
    KvEntry again = kv.put("session/1", "new");
    CHECK(again.version == 1);
    CHECK_FALSE(again.expires_at.has_value());
  }
  SUBCASE("erase of it returns false") { CHECK_FALSE(kv.erase("session/1")); }
  SUBCASE("purge_expired removes it with a kv.expired event") {
    const auto rev = f.reg.revision();
    CHECK(f.reg.stats().kv_entries == 2);  // still in the file until purged
    CHECK(kv.purge_expired() == 1);
    CHECK(f.reg.revision() == rev + 1);
    auto events = test::events_at(f.reg, rev + 1);
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == cairn::Kind::kv);
    CHECK(events[0].topic == "kv.expired");
    CHECK(events[0].op == Op::expired);
    CHECK(events[0].id == "ttl/session/1");
    REQUIRE(events[0].before.has_value());
    CHECK(events[0].before->at("expires_at") == t0 + 1000);
    CHECK_FALSE(events[0].after.has_value());
    CHECK(f.reg.stats().kv_entries == 1);
    CHECK(kv.purge_expired() == 0);
    CHECK(f.reg.revision() == rev + 1);
  }
  SUBCASE("a later write refreshes the TTL, a write without one clears it") {
    const cairn::Timestamp t1 = f.clock.now();
    kv.put("s2", "token", ttl(1000));
    f.clock.set(t1 + 900);
    KvEntry refreshed = kv.put("s2", "token2", ttl(1000));
    CHECK(refreshed.version == 2);
    CHECK(*refreshed.expires_at == t1 + 1900);
    f.clock.set(t1 + 1500);
    CHECK(kv.exists("s2"));
    CHECK_FALSE(kv.put("s2", "kept").expires_at.has_value());
    f.clock.set(t1 + 1'000'000);
    CHECK(kv.get("s2").value == "kept");
  }
}

TEST_CASE_TEMPLATE("kv: purge_expired only touches its namespace", Mode, test::InMemory,
                   test::OnDisk) {
  KvFixture<Mode> f;
  f.reg.kv("one").put("k", "v", ttl(10));
  f.reg.kv("two").put("k", "v", ttl(10));
  f.reg.kv("two").put("live", "v", ttl(1'000'000));
  f.clock.advance(10);
  CHECK(f.reg.kv("one").purge_expired() == 1);
  CHECK(f.reg.stats().kv_entries == 2);
  CHECK(f.reg.kv("two").purge_expired() == 1);
  CHECK(f.reg.kv("two").exists("live"));
}

TEST_CASE_TEMPLATE("kv: the background purge removes expired entries with kv.expired", Mode,
                   test::InMemory, test::OnDisk) {
  KvFixture<Mode> f(/*purge_interval_ms=*/20);
  std::mutex mu;
  std::vector<cairn::Event> expired;
  auto sub = f.reg.subscribe(
      cairn::Filter{.kinds = {cairn::Kind::kv}, .topics = {"kv.expired"}, .id_prefix = {}},
      [&](std::span<const cairn::Event> events) {
        std::lock_guard lock(mu);
        expired.insert(expired.end(), events.begin(), events.end());
      });
  auto kv = f.reg.kv("bg");
  kv.put("short", "v", ttl(100));
  kv.put("long", "v", ttl(1'000'000));
  f.clock.advance(100);
  CHECK_FALSE(kv.exists("short"));  // invisible at once, purged or not

  // Bounded wait for the background thread; not a timing assertion.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  for (;;) {
    {
      std::lock_guard lock(mu);
      if (!expired.empty()) break;
    }
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(5ms);
  }
  std::lock_guard lock(mu);
  REQUIRE(expired.size() == 1);
  CHECK(expired[0].id == "bg/short");
  CHECK(expired[0].op == Op::expired);
  CHECK(expired[0].topic == "kv.expired");
  CHECK(f.reg.stats().kv_entries == 1);
  CHECK(kv.exists("long"));
}

TEST_CASE_TEMPLATE("kv: namespaces are isolated", Mode, test::InMemory, test::OnDisk) {
  KvFixture<Mode> f;
  auto a = f.reg.kv("a");
  auto ab = f.reg.kv("a/b");
  a.put("b/c", "in a");
  ab.put("c", "in a/b");
  a.put("k", "a's k", ttl(50));
  ab.put("k", "ab's k");
  CHECK(a.get("b/c").value == "in a");
  CHECK(ab.get("c").value == "in a/b");
  CHECK_FALSE(a.exists("c"));
  CHECK_FALSE(ab.exists("b/c"));
  CHECK(keys(a.list()) == Keys{"b/c", "k"});
  CHECK(keys(ab.list()) == Keys{"c", "k"});
  CHECK(a.info().entries == 2);
  CHECK(ab.put("k", "again").version == 2);  // its own version counter
  CHECK(a.get("k").version == 1);
  f.clock.advance(50);
  CHECK(ab.exists("k"));
  CHECK(ab.purge_expired() == 0);
  CHECK(a.purge_expired() == 1);
  CHECK(a.erase_prefix("") == 1);
  CHECK(ab.info().entries == 2);
  CHECK(f.reg.kv("A").list().empty());  // names are case-sensitive
}

TEST_CASE_TEMPLATE("kv: writes join a transaction and roll back with it", Mode, test::InMemory,
                   test::OnDisk) {
  KvFixture<Mode> f;
  f.reg.kv("tx").put("kept", "1");
  const auto rev = f.reg.revision();

  CHECK_THROWS_AS(f.reg.transact([&](cairn::Tx& tx) {
    auto kv = tx.kv("tx");
    kv.put("new", "x");
    kv.put("kept", "2");
    kv.put_many({KvItem{.key = "m", .value = "m", .options = {}}});
    CHECK(kv.erase("kept"));
    CHECK(kv.get("new").value == "x");  // reads see the transaction's writes
    CHECK_FALSE(kv.exists("kept"));
    tx.torrent_session().save(cairn::TorrentSession{});
    throw std::runtime_error("roll back");
  }),
                  std::runtime_error);
  CHECK(f.reg.revision() == rev);
  CHECK(keys(f.reg.kv("tx").list()) == Keys{"kept"});
  CHECK(f.reg.kv("tx").get("kept").version == 1);
  CHECK_FALSE(f.reg.torrent_session().find().has_value());

  f.reg.transact([&](cairn::Tx& tx) {
    tx.kv("tx").put("new", "x");
    tx.kv("other").put("k", "y");
    tx.kv("tx").put("kept", "2", expect(1));
  });
  CHECK(f.reg.revision() == rev + 1);
  CHECK(f.reg.kv("tx").get("kept").version == 2);
  CHECK(f.reg.kv("tx").get("new").revision == rev + 1);
  CHECK(f.reg.kv("other").get("k").revision == rev + 1);
  CHECK(test::events_at(f.reg, rev + 1).size() == 3);

  SUBCASE("a conflict inside rolls back the whole transaction") {
    CHECK(error_code_of([&] {
            f.reg.transact([&](cairn::Tx& tx) {
              tx.kv("tx").put("x", "1");
              tx.kv("tx").put("kept", "3", expect(1));
            });
          }) == errc::conflict);
    CHECK_FALSE(f.reg.kv("tx").exists("x"));
    CHECK(f.reg.revision() == rev + 1);
  }
}

// Found by this test: put() computes expires_at = now + ttl_ms with no bound
// on ttl_ms, so INT64_MAX wraps (signed overflow) into the past and the put
// "succeeds" with an entry that is invisible at once. A TTL that large must
// be refused as invalid, or the entry must stay visible. (may_fail until fixed)
TEST_CASE_TEMPLATE("kv: a huge TTL never wraps around into the past" * doctest::may_fail(), Mode,
                   test::InMemory, test::OnDisk) {
  KvFixture<Mode> f;
  auto kv = f.reg.kv("huge");
  for (std::int64_t ms : {INT64_MAX, INT64_MAX - 1, INT64_MAX / 2 + 1}) {
    CAPTURE(ms);
    const std::string key = "k" + std::to_string(ms);
    auto e = error_of([&] { kv.put(key, "v", ttl(ms)); });
    if (e.has_value()) {
      CHECK(test::code(*e) == errc::invalid_argument);
      CHECK(test::contains(e->what(), "ttl_ms"));
      CHECK_FALSE(kv.exists(key));
    } else {
      CHECK(kv.exists(key));
      REQUIRE(kv.get(key).expires_at.has_value());
      CHECK(*kv.get(key).expires_at > f.clock.now());
    }
  }
}
