// The torrent store (go-i2p-bt's torrent state, libtorrent's resume data):
// every verb, v1 and v2 info hashes and the malformed ones, the whole state
// table of records.h (each allowed change succeeds with its hook topic, each
// refused one names both states and changes nothing), the 16 MiB metainfo
// limit, event images without the metainfo blob, save_all of 10,000 torrents
// as one revision (and all-or-nothing when one in the middle fails), field
// validation, and the JSON form with its base64 fields.
//
// Each store test runs against an in-memory and an on-disk registry. The
// random bytes (pieces, metainfo) come from CAIRN_SEED when set; the seed is
// printed.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <mutex>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "cairn/cairn.h"
#include "test_util.h"

using cairn::errc;
using cairn::Expect;
using cairn::Torrent;
using cairn::TorrentQuery;
using cairn::TorrentState;
using nlohmann::json;
using test::error_code_of;
using test::error_of;

namespace {

using Hashes = std::vector<std::string>;

constexpr std::array<TorrentState, 5> kStates = {TorrentState::added, TorrentState::started,
                                                 TorrentState::stopped, TorrentState::completed,
                                                 TorrentState::removed};

// records.h, TorrentState: written out again here, independently of lib/.
bool allowed(TorrentState from, TorrentState to) {
  using S = TorrentState;
  if (from == to) return true;  // an update that keeps the state
  switch (from) {
    case S::added:
      return to == S::started || to == S::stopped || to == S::removed;
    case S::started:
      return to == S::stopped || to == S::completed || to == S::removed;
    case S::stopped:
      return to == S::started || to == S::removed;
    case S::completed:
      return to == S::started || to == S::stopped || to == S::removed;
    case S::removed:
      return false;
  }
  return false;
}

std::string topic_of_change(TorrentState from, TorrentState to) {
  if (from == to) return "torrent.updated";
  return std::string("torrent.") + cairn::to_string(to);
}

std::uint64_t seed() {
  static const std::uint64_t s = [] {
    const char* env = std::getenv("CAIRN_SEED");
    const std::uint64_t v = env ? std::strtoull(env, nullptr, 10) : std::random_device{}();
    std::cout << "stores_torrents_test: CAIRN_SEED=" << v << "\n";
    return v;
  }();
  return s;
}

std::string random_bytes(std::size_t n, std::uint64_t salt) {
  std::mt19937_64 rng(seed() ^ salt);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

// A v1 (40 hex digits) or v2 (64) info hash made from a number.
std::string hash_of(std::uint64_t n, std::size_t digits = 40) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(digits, '0');
  for (std::size_t i = 0; i < digits && n != 0; ++i, n /= 16) out[digits - 1 - i] = kHex[n % 16];
  return out;
}

Torrent make_torrent(std::string hash, TorrentState state = TorrentState::added) {
  Torrent t;
  t.info_hash = std::move(hash);
  t.name = "ubuntu-24.04-desktop-amd64.iso";
  t.state = state;
  t.save_path = "/srv/torrents/ubuntu";
  t.total_size = 6'114'656'256;
  t.downloaded = 1 << 20;
  t.uploaded = 12345;
  t.pieces = std::string("\x00\xff\x0f\xf0", 4);
  t.trackers = {{"https://torrent.ubuntu.com/announce"},
                {"udp://tracker.example:6969/announce", "udp://backup.example:80"}};
  t.file_priorities = {0, 4, 7};
  t.limits = {.download_rate = 1000, .upload_rate = 2000, .max_connections = 50, .max_uploads = 4};
  t.flags.sequential_download = true;
  t.last_activity = 1'700'000'000'000;
  t.metainfo = std::string(
      "d8:announce\0\xff"
      "e",
      14);
  t.extra = json{{"x-client", "go-i2p-bt"}, {"nested", {{"a", {1, 2}}}}};
  return t;
}

Hashes hashes(const std::vector<Torrent>& torrents) {
  return test::keys_of(torrents, [](const Torrent& t) { return t.info_hash; });
}

TorrentQuery in_state(TorrentState s) { return TorrentQuery{.state = s, .after = {}, .limit = {}}; }

// The stored torrent moved to `state` along allowed changes, starting from a
// create in `added` (a torrent cannot be created removed).
template <class Registry>
Torrent stored_in_state(Registry& reg, const std::string& hash, TorrentState state) {
  if (state != TorrentState::removed) return reg.torrents().create(make_torrent(hash, state));
  reg.torrents().create(make_torrent(hash, TorrentState::added));
  return reg.torrents().update(hash, [](Torrent& t) { t.state = TorrentState::removed; });
}

}  // namespace

TEST_CASE_TEMPLATE("torrents: find, get, count and list of an empty store", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  CHECK_FALSE(f.reg.torrents().find(hash_of(1)).has_value());
  CHECK(error_code_of([&] { f.reg.torrents().get(hash_of(1)); }) == errc::not_found);
  CHECK(f.reg.torrents().count() == 0);
  CHECK(f.reg.torrents().list().empty());
  CHECK(f.reg.torrents().load_all().empty());
  CHECK_FALSE(f.reg.torrents().remove(hash_of(1)));
  CHECK(f.reg.revision() == 0);
}

TEST_CASE_TEMPLATE("torrents: put then get returns the same record, v1 and v2 hashes", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  for (std::size_t digits : {40u, 64u}) {
    CAPTURE(digits);
    const std::string hash = hash_of(0xabcdef0123456789ull, digits);
    Torrent in = make_torrent(hash, TorrentState::started);
    Torrent stored = f.reg.torrents().put(in);
    CHECK(stored.info_hash == hash);
    CHECK(stored.name == in.name);
    CHECK(stored.state == TorrentState::started);
    CHECK(stored.save_path == in.save_path);
    CHECK(stored.total_size == in.total_size);
    CHECK(stored.downloaded == in.downloaded);
    CHECK(stored.uploaded == in.uploaded);
    CHECK(stored.pieces == in.pieces);
    CHECK(stored.trackers == in.trackers);
    CHECK(stored.file_priorities == in.file_priorities);
    CHECK(stored.limits.max_connections == 50);
    CHECK(stored.flags.sequential_download);
    CHECK(stored.flags.auto_managed);
    CHECK(stored.metainfo == in.metainfo);
    CHECK(stored.extra == in.extra);
    CHECK(stored.added_at == f.clock.now());  // 0: set when created
    CHECK(stored.last_activity == in.last_activity);
    CHECK(stored.created_at == f.clock.now());
    CHECK(stored.revision == f.reg.revision());

    CHECK(test::image(f.reg.torrents().get(hash)) == test::image(stored));
    auto found = f.reg.torrents().find(hash);
    REQUIRE(found.has_value());
    CHECK(test::image(*found) == test::image(stored));
  }
  CHECK(f.reg.torrents().count() == 2);
}

TEST_CASE_TEMPLATE("torrents: create, put with Expect, update and remove", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  const std::string h = hash_of(7);
  Torrent first = f.reg.torrents().create(make_torrent(h));

  SUBCASE("create of a present hash fails with already_exists and changes nothing") {
    Torrent other = make_torrent(h);
    other.name = "other";
    CHECK(error_code_of([&] { f.reg.torrents().create(other); }) == errc::already_exists);
    CHECK(test::image(f.reg.torrents().get(h)) == test::image(first));
    CHECK(f.reg.revision() == first.revision);
  }
  SUBCASE("put with Expect: current revision wins, a stale one is a conflict") {
    f.clock.advance(5);
    Torrent edit = first;
    edit.downloaded = 99;
    Torrent second = f.reg.torrents().put(edit, Expect{.revision = first.revision});
    CHECK(second.downloaded == 99);
    CHECK(second.created_at == first.created_at);
    CHECK(second.updated_at == first.updated_at + 5);
    CHECK(second.added_at == first.added_at);  // kept, not reset by a put with added_at 0
    edit.downloaded = 100;
    CHECK(error_code_of([&] { f.reg.torrents().put(edit, Expect{.revision = first.revision}); }) ==
          errc::conflict);
    CHECK(error_code_of([&] { f.reg.torrents().put(edit, Expect{.revision = 0}); }) ==
          errc::conflict);
    CHECK(f.reg.torrents().get(h).downloaded == 99);
  }
  SUBCASE("update edits the stored record and honours Expect") {
    Torrent updated = f.reg.torrents().update(
        h, [](Torrent& t) { t.uploaded = 777; }, Expect{first.revision});
    CHECK(updated.uploaded == 777);
    CHECK(error_code_of([&] {
            f.reg.torrents().update(
                h, [](Torrent& t) { t.uploaded = 1; }, Expect{first.revision});
          }) == errc::conflict);
    CHECK(error_code_of([&] { f.reg.torrents().update(hash_of(8), [](Torrent&) {}); }) ==
          errc::not_found);
    CHECK(error_code_of([&] {
            f.reg.torrents().update(h, [](Torrent& t) { t.info_hash = hash_of(9); });
          }) == errc::invalid_argument);
    CHECK(f.reg.torrents().get(h).uploaded == 777);
  }
  SUBCASE("remove honours Expect and returns false when absent") {
    CHECK(error_code_of([&] { f.reg.torrents().remove(h, Expect{first.revision + 1}); }) ==
          errc::conflict);
    CHECK(f.reg.torrents().find(h).has_value());
    CHECK(f.reg.torrents().remove(h, Expect{first.revision}));
    CHECK_FALSE(f.reg.torrents().find(h).has_value());
    auto events = test::events_at(f.reg, f.reg.revision());
    REQUIRE(events.size() == 1);
    CHECK(events[0].topic == "torrent.removed");
    CHECK(events[0].op == cairn::Op::removed);
    const auto rev = f.reg.revision();
    CHECK_FALSE(f.reg.torrents().remove(h));
    CHECK(f.reg.revision() == rev);
  }
}

TEST_CASE_TEMPLATE("torrents: list and count by state, with keyset paging", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  const TorrentState states[] = {TorrentState::started,   TorrentState::added,
                                 TorrentState::completed, TorrentState::started,
                                 TorrentState::stopped,   TorrentState::started};
  Hashes all;
  for (std::size_t i = 0; i < std::size(states); ++i) {
    // v1 and v2 hashes mixed: ordering is by the hash text.
    const std::string h = hash_of(100 - i, i % 2 == 0 ? 40 : 64);
    f.reg.torrents().put(make_torrent(h, states[i]));
    all.push_back(h);
  }
  std::sort(all.begin(), all.end());
  CHECK(hashes(f.reg.torrents().list()) == all);
  CHECK(hashes(f.reg.torrents().load_all()) == all);
  CHECK(f.reg.torrents().count() == 6);
  CHECK(f.reg.torrents().count(in_state(TorrentState::started)) == 3);
  CHECK(f.reg.torrents().count(in_state(TorrentState::removed)) == 0);

  for (TorrentState s : kStates) {
    CAPTURE(cairn::to_string(s));
    Hashes expected;
    for (const auto& t : f.reg.torrents().list()) {
      if (t.state == s) expected.push_back(t.info_hash);
    }
    CHECK(hashes(f.reg.torrents().list(in_state(s))) == expected);
    CHECK(f.reg.torrents().count(in_state(s)) == expected.size());
  }

  SUBCASE("paging visits every torrent once, in order") {
    for (std::size_t limit : {1u, 2u, 4u}) {
      Hashes seen;
      std::string after;
      for (;;) {
        auto page =
            f.reg.torrents().list(TorrentQuery{.state = {}, .after = after, .limit = limit});
        if (page.empty()) break;
        CHECK(page.size() <= limit);
        for (const auto& t : page) seen.push_back(t.info_hash);
        after = page.back().info_hash;
      }
      CHECK(seen == all);
    }
    auto started = f.reg.torrents().list(
        TorrentQuery{.state = TorrentState::started, .after = {}, .limit = 2});
    REQUIRE(started.size() == 2);
    auto rest = f.reg.torrents().list(TorrentQuery{
        .state = TorrentState::started, .after = started.back().info_hash, .limit = 2});
    CHECK(rest.size() == 1);
  }
  SUBCASE("a state change moves a torrent between state lists") {
    const std::string h = f.reg.torrents().list(in_state(TorrentState::added)).at(0).info_hash;
    f.reg.torrents().update(h, [](Torrent& t) { t.state = TorrentState::started; });
    CHECK(f.reg.torrents().count(in_state(TorrentState::added)) == 0);
    CHECK(f.reg.torrents().count(in_state(TorrentState::started)) == 4);
  }
}

TEST_CASE_TEMPLATE("torrents: malformed info hashes are refused naming info_hash", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  const std::string good1 = hash_of(0x1234, 40);
  std::string upper = good1;
  upper[39] = 'A';
  upper[38] = 'F';
  std::string nul_inside = good1;
  nul_inside[20] = '\0';
  const std::vector<std::pair<const char*, std::string>> bad = {
      {"uppercase", upper},
      {"all uppercase v2", std::string(64, 'F')},
      {"39 digits", std::string(39, 'a')},
      {"41 digits", std::string(41, 'a')},
      {"63 digits", std::string(63, 'b')},
      {"65 digits", std::string(65, 'b')},
      {"non-hex", std::string(39, 'a') + "g"},
      {"non-hex v2", std::string(63, '0') + "z"},
      {"empty", ""},
      {"NUL inside", nul_inside},
      {"spaces", " " + std::string(39, 'a')},
      {"0x prefix", "0x" + std::string(38, 'a')},
  };
  for (const auto& [what, hash] : bad) {
    CAPTURE(what);
    for (int verb = 0; verb < 3; ++verb) {
      CAPTURE(verb);
      auto e = error_of([&] {
        if (verb == 0) f.reg.torrents().create(make_torrent(hash));
        if (verb == 1) f.reg.torrents().put(make_torrent(hash));
        if (verb == 2) f.reg.torrents().save_all({make_torrent(hash_of(1)), make_torrent(hash)});
      });
      REQUIRE(e.has_value());
      CHECK(test::code(*e) == errc::invalid_argument);
      CHECK(test::contains(e->what(), "info_hash"));
    }
  }
  CHECK(f.reg.torrents().count() == 0);
  CHECK(f.reg.revision() == 0);
  // Lookups of a malformed hash find nothing (and do not fail).
  CHECK_FALSE(f.reg.torrents().find(upper).has_value());
}

TEST_CASE_TEMPLATE("torrents: every state change of the table, allowed or refused", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  std::uint64_t n = 1000;
  for (TorrentState from : kStates) {
    for (TorrentState to : kStates) {
      for (int verb = 0; verb < 2; ++verb) {  // put, update
        const std::string h = hash_of(++n);
        CAPTURE(cairn::to_string(from));
        CAPTURE(cairn::to_string(to));
        CAPTURE(verb);
        const Torrent before = stored_in_state(f.reg, h, from);
        REQUIRE(before.state == from);
        const auto rev = f.reg.revision();
        f.clock.advance(1);

        auto change = [&] {
          if (verb == 0) {
            Torrent t = before;
            t.state = to;
            t.downloaded += 1;
            return f.reg.torrents().put(t);
          }
          return f.reg.torrents().update(h, [&](Torrent& t) {
            t.state = to;
            t.downloaded += 1;
          });
        };

        if (allowed(from, to)) {
          Torrent after = change();
          CHECK(after.state == to);
          CHECK(f.reg.torrents().get(h).state == to);
          CHECK(after.revision == rev + 1);
          auto events = test::events_at(f.reg, rev + 1);
          REQUIRE(events.size() == 1);
          CHECK(events[0].kind == cairn::Kind::torrent);
          CHECK(events[0].id == h);
          CHECK(events[0].topic == topic_of_change(from, to));
          REQUIRE(events[0].before.has_value());
          REQUIRE(events[0].after.has_value());
          CHECK(events[0].before->at("state") == cairn::to_string(from));
          CHECK(events[0].after->at("state") == cairn::to_string(to));
          if (to == TorrentState::completed && from != to) {
            CHECK(after.completed_at == f.clock.now());  // 0: set when it completes
          }
        } else {
          auto e = error_of(change);
          REQUIRE(e.has_value());
          CHECK(test::code(*e) == errc::invalid_argument);
          const std::string message = e->what();
          CAPTURE(message);
          CHECK(test::contains(message, cairn::to_string(from)));
          CHECK(test::contains(message, cairn::to_string(to)));
          CHECK(test::image(f.reg.torrents().get(h)) == test::image(before));
          CHECK(f.reg.revision() == rev);
          CHECK(f.reg.changes(rev + 1).empty());
        }
      }
    }
  }
}

TEST_CASE_TEMPLATE("torrents: a refused state change publishes nothing to a live subscriber", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  std::mutex mu;
  std::vector<std::string> topics;
  auto sub =
      f.reg.subscribe(cairn::Filter{.kinds = {cairn::Kind::torrent}, .topics = {}, .id_prefix = {}},
                      [&](std::span<const cairn::Event> events) {
                        std::lock_guard lock(mu);
                        for (const auto& e : events) topics.push_back(e.topic);
                      });
  const std::string h = hash_of(5);
  f.reg.torrents().create(make_torrent(h, TorrentState::started));
  CHECK(error_code_of([&] {
          f.reg.torrents().update(h, [](Torrent& t) { t.state = TorrentState::added; });
        }) == errc::invalid_argument);
  f.reg.torrents().update(h, [](Torrent& t) { t.state = TorrentState::completed; });
  f.reg.torrents().update(h, [](Torrent& t) { t.state = TorrentState::started; });
  f.reg.torrents().update(h, [](Torrent& t) { t.state = TorrentState::stopped; });
  f.reg.torrents().update(h, [](Torrent& t) { t.uploaded = 1; });
  f.reg.torrents().update(h, [](Torrent& t) { t.state = TorrentState::removed; });
  CHECK(error_code_of([&] {
          f.reg.torrents().update(h, [](Torrent& t) { t.state = TorrentState::started; });
        }) == errc::invalid_argument);
  REQUIRE(f.reg.wait_for(f.reg.revision()));
  std::lock_guard lock(mu);
  CHECK(topics == std::vector<std::string>{"torrent.added", "torrent.completed", "torrent.started",
                                           "torrent.stopped", "torrent.updated",
                                           "torrent.removed"});
}

TEST_CASE_TEMPLATE("torrents: created in any state but removed, always as torrent.added", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  std::uint64_t n = 0;
  for (TorrentState s : kStates) {
    CAPTURE(cairn::to_string(s));
    const std::string h = hash_of(++n);
    if (s == TorrentState::removed) {
      for (int verb = 0; verb < 3; ++verb) {
        auto e = error_of([&] {
          if (verb == 0) f.reg.torrents().create(make_torrent(h, s));
          if (verb == 1) f.reg.torrents().put(make_torrent(h, s));
          if (verb == 2) f.reg.torrents().save_all({make_torrent(h, s)});
        });
        REQUIRE(e.has_value());
        CHECK(test::code(*e) == errc::invalid_argument);
        CHECK(test::contains(e->what(), "removed"));
        CHECK_FALSE(f.reg.torrents().find(h).has_value());
      }
      continue;
    }
    Torrent t = f.reg.torrents().create(make_torrent(h, s));
    CHECK(t.state == s);
    auto events = test::events_at(f.reg, t.revision);
    REQUIRE(events.size() == 1);
    CHECK(events[0].topic == "torrent.added");
    CHECK(events[0].op == cairn::Op::created);
    CHECK_FALSE(events[0].before.has_value());
    if (s == TorrentState::completed) CHECK(t.completed_at == f.clock.now());
  }
  CHECK(f.reg.torrents().count() == 4);
}

TEST_CASE_TEMPLATE(
    "torrents: a 16 MiB metainfo round-trips byte for byte, one byte more is refused", Mode,
    test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  const std::string h = hash_of(16);
  Torrent t = make_torrent(h);
  t.metainfo = random_bytes(cairn::kMaxMetainfoBytes, 16);
  t.metainfo[0] = '\0';
  t.metainfo[t.metainfo.size() - 1] = '\0';
  Torrent stored = f.reg.torrents().put(t);
  CHECK(stored.metainfo.size() == cairn::kMaxMetainfoBytes);
  Torrent back = f.reg.torrents().get(h);
  CHECK(back.metainfo.size() == cairn::kMaxMetainfoBytes);
  CHECK(back.metainfo == t.metainfo);

  // The event image carries the size, never the blob.
  auto events = test::events_at(f.reg, stored.revision);
  REQUIRE(events.size() == 1);
  REQUIRE(events[0].after.has_value());
  CHECK(events[0].after->at("metainfo_bytes") == cairn::kMaxMetainfoBytes);
  CHECK_FALSE(events[0].after->contains("metainfo_base64"));
  CHECK_FALSE(events[0].after->contains("metainfo"));

  const auto rev = f.reg.revision();
  Torrent too_big = t;
  too_big.metainfo.push_back('x');
  auto e = error_of([&] { f.reg.torrents().put(too_big); });
  REQUIRE(e.has_value());
  CHECK(test::code(*e) == errc::invalid_argument);
  CHECK(test::contains(e->what(), "metainfo"));
  CHECK(f.reg.revision() == rev);
  CHECK(f.reg.torrents().get(h).metainfo == t.metainfo);
}

TEST_CASE_TEMPLATE("torrents: events carry metainfo_bytes in both images, not the blob", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  const std::string h = hash_of(17, 64);
  Torrent first = f.reg.torrents().create(make_torrent(h));
  Torrent second = f.reg.torrents().update(h, [](Torrent& t) {
    t.metainfo = std::string(1000, '\x01');
    t.state = TorrentState::started;
  });
  auto created = test::events_at(f.reg, first.revision);
  REQUIRE(created.size() == 1);
  CHECK(created[0].after->at("metainfo_bytes") == 14);
  auto started = test::events_at(f.reg, second.revision);
  REQUIRE(started.size() == 1);
  CHECK(started[0].topic == "torrent.started");
  CHECK(started[0].before->at("metainfo_bytes") == 14);
  CHECK(started[0].after->at("metainfo_bytes") == 1000);
  CHECK_FALSE(started[0].before->contains("metainfo_base64"));
  CHECK_FALSE(started[0].after->contains("metainfo_base64"));
  // The rest of the image is the record's JSON form.
  json expected = test::image(second);
  expected.erase("metainfo_base64");
  expected["metainfo_bytes"] = 1000;
  CHECK(*started[0].after == expected);
}

// On disk only (the in-memory registry runs the same code); 10,000 torrents
// unless CAIRN_SAVE_ALL_COUNT says otherwise (a sanitizer pass may lower it).
TEST_CASE("torrents: save_all of 10,000 torrents is one transaction and one revision") {
  test::Fixture<test::OnDisk> f;
  const char* env = std::getenv("CAIRN_SAVE_ALL_COUNT");
  const std::size_t kCount =
      std::max<std::size_t>(env ? std::strtoull(env, nullptr, 10) : 10'000, 40);
  const std::size_t kMiddle = kCount / 2;
  // Two of the batch stored first: save_all updates them in place.
  f.reg.torrents().put(make_torrent(hash_of(3, 64)));
  f.reg.torrents().put(make_torrent(hash_of(10, 40)));
  const auto rev = f.reg.revision();

  std::vector<Torrent> batch;
  batch.reserve(kCount);
  for (std::size_t i = 0; i < kCount; ++i) {
    Torrent t = make_torrent(hash_of(i, i % 3 == 0 ? 64 : 40));
    t.downloaded = static_cast<std::int64_t>(i);
    t.metainfo = "m" + std::to_string(i);
    batch.push_back(std::move(t));
  }

  SUBCASE("all of them, in one revision") {
    std::vector<Torrent> stored = f.reg.torrents().save_all(batch);
    CHECK(f.reg.revision() == rev + 1);
    REQUIRE(stored.size() == kCount);
    CHECK(f.reg.torrents().count() == kCount);
    std::size_t wrong_revision = 0;
    for (const auto& t : stored) wrong_revision += t.revision != rev + 1;
    CHECK(wrong_revision == 0);
    wrong_revision = 0;
    std::size_t wrong_content = 0;
    for (const auto& t : f.reg.torrents().load_all()) {
      wrong_revision += t.revision != rev + 1;
      wrong_content += t.metainfo != "m" + std::to_string(t.downloaded);
    }
    CHECK(wrong_revision == 0);
    CHECK(wrong_content == 0);
    auto events = test::events_at(f.reg, rev + 1);
    CHECK(events.size() == kCount);
    std::size_t added = 0, updated = 0;
    for (const auto& e : events) {
      added += e.topic == "torrent.added";
      updated += e.topic == "torrent.updated";
    }
    CHECK(added == kCount - 2);
    CHECK(updated == 2);
  }

  SUBCASE("an invalid torrent in the middle leaves nothing written") {
    batch[kMiddle].total_size = -1;
    auto e = error_of([&] { f.reg.torrents().save_all(batch); });
    REQUIRE(e.has_value());
    CHECK(test::code(*e) == errc::invalid_argument);
    CHECK(test::contains(e->what(), "total_size"));
    CHECK(f.reg.torrents().count() == 2);
    CHECK(f.reg.revision() == rev);
  }

  SUBCASE("an illegal state change in the middle against a stored torrent leaves nothing written") {
    const std::string h = batch[kMiddle].info_hash;
    f.reg.torrents().put(make_torrent(h, TorrentState::completed));
    const auto rev2 = f.reg.revision();
    const json stored_image = test::image(f.reg.torrents().get(h));
    batch[kMiddle].state = TorrentState::added;  // completed -> added: refused
    auto e = error_of([&] { f.reg.torrents().save_all(batch); });
    REQUIRE(e.has_value());
    CHECK(test::code(*e) == errc::invalid_argument);
    CHECK(test::contains(e->what(), "completed"));
    CHECK(test::contains(e->what(), "added"));
    CHECK(f.reg.torrents().count() == 3);
    CHECK(f.reg.revision() == rev2);
    CHECK(test::image(f.reg.torrents().get(h)) == stored_image);
    CHECK(f.reg.changes(rev2 + 1).empty());
  }
}

TEST_CASE_TEMPLATE("torrents: save_all joins the caller's transaction", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  const auto rev = f.reg.revision();
  CHECK_THROWS_AS(f.reg.transact([&](cairn::Tx& tx) {
    tx.torrents().save_all({make_torrent(hash_of(1)), make_torrent(hash_of(2))});
    CHECK(tx.torrents().count() == 2);
    throw std::runtime_error("roll back");
  }),
                  std::runtime_error);
  CHECK(f.reg.torrents().count() == 0);
  CHECK(f.reg.revision() == rev);
  f.reg.transact([&](cairn::Tx& tx) {
    tx.torrents().save_all({make_torrent(hash_of(1)), make_torrent(hash_of(2))});
    tx.torrents().put(make_torrent(hash_of(3)));
  });
  CHECK(f.reg.revision() == rev + 1);
  CHECK(f.reg.torrents().count() == 2 + 1);
}

TEST_CASE_TEMPLATE("torrents: invalid fields are refused, naming the field", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  struct Case {
    const char* field;
    std::function<void(Torrent&)> spoil;
  };
  const std::vector<Case> cases = {
      {"total_size", [](Torrent& t) { t.total_size = -1; }},
      {"downloaded", [](Torrent& t) { t.downloaded = -1; }},
      {"uploaded", [](Torrent& t) { t.uploaded = INT64_MIN; }},
      {"file_priorities",
       [](Torrent& t) {
         t.file_priorities = {0, 7, 8};
       }},
      {"file_priorities", [](Torrent& t) { t.file_priorities = {-1}; }},
      {"trackers",
       [](Torrent& t) {
         t.trackers.assign(11, {});
         for (int tier = 0; tier < 11; ++tier) {
           for (int i = 0; i < 100; ++i) {
             t.trackers[tier].push_back("udp://t" + std::to_string(tier * 100 + i) + ".example");
           }
         }
       }},
      {"trackers", [](Torrent& t) { t.trackers = {{""}}; }},
      {"name", [](Torrent& t) { t.name = "bad \xc3\x28 utf-8"; }},
      {"name", [](Torrent& t) { t.name = std::string(1025, 'n'); }},
      {"save_path", [](Torrent& t) { t.save_path = std::string("/a\0b", 4); }},
      {"extra",
       [](Torrent& t) {
         t.extra = json::array({1, 2});
       }},
      {"extra", [](Torrent& t) { t.extra = "text"; }},
      {"pieces", [](Torrent& t) { t.pieces.assign((2u << 20) + 1, '\xff'); }},
      {"limits.download_rate", [](Torrent& t) { t.limits.download_rate = -5; }},
      {"limits.max_connections", [](Torrent& t) { t.limits.max_connections = -1; }},
  };
  for (const auto& c : cases) {
    CAPTURE(c.field);
    Torrent t = make_torrent(hash_of(42));
    c.spoil(t);
    auto e = error_of([&] { f.reg.torrents().put(t); });
    REQUIRE(e.has_value());
    CHECK(test::code(*e) == errc::invalid_argument);
    CAPTURE(e->what());
    CHECK(test::contains(e->what(), c.field));
    CHECK(test::contains(e->what(), hash_of(42)));  // and the record
  }
  CHECK(f.reg.torrents().count() == 0);

  SUBCASE("the limits themselves are accepted") {
    Torrent t = make_torrent(hash_of(43));
    t.file_priorities.assign(100, 7);
    t.trackers.assign(10, {});
    for (int tier = 0; tier < 10; ++tier) {
      for (int i = 0; i < 100; ++i) {
        t.trackers[tier].push_back("udp://t" + std::to_string(tier * 100 + i) + ".example");
      }
    }
    t.name = std::string(1024, 'n');
    t.pieces.assign(2u << 20, '\xff');
    t.total_size = t.downloaded = t.uploaded = 0;
    Torrent stored = f.reg.torrents().put(t);
    CHECK(f.reg.torrents().get(hash_of(43)).trackers == t.trackers);
    CHECK(stored.pieces.size() == 2u << 20);
  }
}

TEST_CASE_TEMPLATE("torrents: the pieces bitfield round-trips byte for byte", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  for (std::size_t size : {0u, 1u, 7u, 4096u, 250'000u}) {
    CAPTURE(size);
    const std::string h = hash_of(size + 1);
    Torrent t = make_torrent(h);
    t.pieces = random_bytes(size, size);
    if (size > 2) t.pieces[1] = '\0';
    f.reg.torrents().put(t);
    CHECK(f.reg.torrents().get(h).pieces == t.pieces);
    // And through the JSON form.
    const json image = test::image(f.reg.torrents().get(h));
    CHECK(image.get<Torrent>().pieces == t.pieces);
  }
}

TEST_CASE("torrents: the JSON form round-trips, with base64 pieces and metainfo") {
  Torrent t = make_torrent(hash_of(99, 64), TorrentState::completed);
  t.pieces = random_bytes(1001, 1);
  t.metainfo = random_bytes(3000, 2);
  t.completed_at = 1'700'000'123'456;
  t.added_at = 1'600'000'000'000;
  t.flags = {.paused = true,
             .auto_managed = false,
             .sequential_download = true,
             .seed_mode = true,
             .super_seeding = true,
             .upload_mode = true,
             .share_mode = true};
  t.created_at = 1;
  t.updated_at = 2;
  t.revision = 3;
  json j = t;
  CHECK(j.at("state") == "completed");
  CHECK(j.at("pieces_base64").is_string());
  CHECK(j.at("metainfo_base64").is_string());
  CHECK_FALSE(j.contains("pieces"));
  CHECK_FALSE(j.contains("metainfo"));
  Torrent back = j.get<Torrent>();
  CHECK(test::image(back) == j);
  CHECK(back.pieces == t.pieces);
  CHECK(back.metainfo == t.metainfo);
  CHECK(back.trackers == t.trackers);
  CHECK(back.flags.share_mode);
  CHECK_FALSE(back.flags.auto_managed);
  // And through text.
  CHECK(test::image(json::parse(j.dump()).get<Torrent>()) == j);

  // Every byte value survives base64, at every length modulo 3.
  for (std::size_t n = 0; n < 6; ++n) {
    Torrent b = t;
    b.metainfo.clear();
    for (int i = 0; i < 256; ++i) b.metainfo += static_cast<char>(i);
    b.metainfo.resize(b.metainfo.size() + n, '\0');
    CHECK(json(b).get<Torrent>().metainfo == b.metainfo);
  }

  SUBCASE("bad base64 is refused, naming the field") {
    for (const char* field : {"pieces_base64", "metainfo_base64"}) {
      for (const char* bad : {"abc", "ab!=", "QR==", "=AAA", "A===", "QUJD\n", "QUJD QUJD"}) {
        CAPTURE(field);
        CAPTURE(bad);
        json spoiled = j;
        spoiled[field] = bad;
        auto e = error_of([&] { spoiled.get<Torrent>(); });
        REQUIRE(e.has_value());
        CHECK(test::code(*e) == errc::invalid_argument);
        CHECK(test::contains(e->what(), field));
      }
      json spoiled = j;
      spoiled[field] = 12;
      CHECK(error_code_of([&] { spoiled.get<Torrent>(); }) == errc::invalid_argument);
    }
  }
  SUBCASE("wrong types and unknown states are refused, naming the field") {
    const std::vector<std::pair<const char*, json>> bad = {
        {"state", "paused"},        {"state", 1},
        {"total_size", "big"},      {"total_size", 1.5},
        {"trackers", "x"},          {"trackers", json{{1}}},
        {"file_priorities", {"a"}}, {"limits", json::array()},
        {"flags", {{"paused", 1}}}, {"info_hash", 5},
    };
    for (const auto& [field, value] : bad) {
      CAPTURE(field);
      CAPTURE(value.dump());
      json spoiled = j;
      spoiled[field] = value;
      auto e = error_of([&] { spoiled.get<Torrent>(); });
      REQUIRE(e.has_value());
      CHECK(test::code(*e) == errc::invalid_argument);
      CHECK(test::contains(e->what(), field));
    }
  }
  for (TorrentState s : kStates) {
    CHECK(cairn::torrent_state_from_string(cairn::to_string(s)) == s);
  }
  CHECK(error_code_of([] { cairn::torrent_state_from_string("Started"); }) ==
        errc::invalid_argument);
}
