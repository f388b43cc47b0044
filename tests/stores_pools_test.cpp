// The pool store: every verb, compare-and-swap, queries by type, removal
// with and without cascade over the pool's memory blocks, and change-log
// events. Each test runs against an in-memory and an on-disk registry.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cairn/cairn.h"
#include "test_util.h"

using cairn::Cascade;
using cairn::errc;
using cairn::Expect;
using cairn::MemoryBlock;
using cairn::Pool;
using cairn::PoolQuery;
using cairn::PoolType;
using nlohmann::json;
using test::error_code_of;

namespace {

using Names = std::vector<std::string>;

Pool make_pool(std::string name, PoolType type = PoolType::local) {
  Pool p;
  p.name = std::move(name);
  p.type = type;
  p.encrypted = type == PoolType::encrypted;
  p.owners = {"app-a", "app-b"};
  p.policies.read = {"*"};
  p.policies.write = {"app-a"};
  p.description = "shared scratch space";
  p.config = json{{"ttl_seconds", 60}, {"x-unknown", {{"deep", true}}}};
  return p;
}

MemoryBlock make_block(std::string id, std::string pool) {
  MemoryBlock b;
  b.id = std::move(id);
  b.name = "block " + b.id;
  b.pool = std::move(pool);
  b.size = 4096;
  return b;
}

Names names(const std::vector<Pool>& pools) {
  return test::keys_of(pools, [](const Pool& p) { return p.name; });
}

PoolQuery of_type(PoolType t) { return PoolQuery{.type = t, .after = {}, .limit = {}}; }

}  // namespace

TEST_CASE_TEMPLATE("pools: find and get of an absent name", Mode, test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  CHECK_FALSE(f.reg.pools().find("none").has_value());
  CHECK(error_code_of([&] { f.reg.pools().get("none"); }) == errc::not_found);
  CHECK(f.reg.pools().count() == 0);
  CHECK(f.reg.pools().list().empty());
}

TEST_CASE_TEMPLATE("pools: put then get returns the same record", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  Pool in = make_pool("shared", PoolType::global);

  Pool stored = f.reg.pools().put(in);
  CHECK(stored.name == "shared");
  CHECK(stored.type == PoolType::global);
  CHECK_FALSE(stored.encrypted);
  CHECK(stored.owners == in.owners);
  CHECK(stored.policies.read == Names{"*"});
  CHECK(stored.policies.write == Names{"app-a"});
  CHECK(stored.description == in.description);
  CHECK(stored.config == in.config);
  CHECK(stored.created_at == f.clock.now());
  CHECK(stored.updated_at == f.clock.now());
  CHECK(stored.revision == f.reg.revision());

  CHECK(test::image(f.reg.pools().get("shared")) == test::image(stored));
  auto found = f.reg.pools().find("shared");
  REQUIRE(found.has_value());
  CHECK(test::image(*found) == test::image(stored));

  SUBCASE("create stores the same as put") {
    Pool created = f.reg.pools().create(make_pool("other"));
    CHECK(test::image(f.reg.pools().get("other")) == test::image(created));
  }
}

TEST_CASE_TEMPLATE("pools: an encrypted pool is always marked encrypted", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  Pool p = make_pool("vault", PoolType::encrypted);
  p.encrypted = false;
  // The header allows two readings: the flag is forced on, or the
  // contradiction is refused. Storing it as not encrypted is neither.
  auto e = test::error_of([&] { f.reg.pools().put(p); });
  if (e) {
    CHECK(test::code(*e) == errc::invalid_argument);
    CHECK_FALSE(f.reg.pools().find("vault").has_value());
  } else {
    CHECK(f.reg.pools().get("vault").encrypted);
  }
}

TEST_CASE_TEMPLATE("pools: create of a present name fails with already_exists", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  Pool first = f.reg.pools().create(make_pool("p"));
  CHECK(error_code_of([&] { f.reg.pools().create(make_pool("p", PoolType::global)); }) ==
        errc::already_exists);
  CHECK(test::image(f.reg.pools().get("p")) == test::image(first));
  CHECK(f.reg.revision() == first.revision);
}

TEST_CASE_TEMPLATE("pools: writes keep created_at, move updated_at and revision", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  const auto t0 = f.clock.now();
  Pool first = f.reg.pools().put(make_pool("p"));
  f.clock.advance(250);
  Pool edit = first;
  edit.description = "changed";
  edit.created_at = 1;
  edit.revision = 999;
  Pool second = f.reg.pools().put(edit);
  CHECK(second.created_at == t0);
  CHECK(second.updated_at == t0 + 250);
  CHECK(second.revision == first.revision + 1);

  f.clock.advance(250);
  Pool third = f.reg.pools().update("p", [](Pool& p) { p.owners.push_back("app-c"); });
  CHECK(third.created_at == t0);
  CHECK(third.updated_at == t0 + 500);
  CHECK(third.revision == second.revision + 1);
  CHECK(third.description == "changed");
  CHECK(third.owners == Names{"app-a", "app-b", "app-c"});
}

TEST_CASE_TEMPLATE("pools: compare-and-swap with Expect", Mode, test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;

  SUBCASE("put with Expect{0} creates only when absent") {
    Pool first = f.reg.pools().put(make_pool("p"), Expect{.revision = 0});
    CHECK(error_code_of([&] { f.reg.pools().put(make_pool("p"), Expect{.revision = 0}); }) ==
          errc::conflict);
    CHECK(f.reg.revision() == first.revision);
  }

  SUBCASE("put with the current revision succeeds, with another fails") {
    Pool first = f.reg.pools().put(make_pool("p"));
    Pool edit = first;
    edit.description = "v2";
    Pool second = f.reg.pools().put(edit, Expect{.revision = first.revision});
    CHECK(second.description == "v2");
    edit.description = "v3";
    CHECK(error_code_of([&] { f.reg.pools().put(edit, Expect{.revision = first.revision}); }) ==
          errc::conflict);
    CHECK(f.reg.pools().get("p").description == "v2");
    CHECK(f.reg.revision() == second.revision);
  }

  SUBCASE("update with a wrong revision fails with conflict") {
    Pool first = f.reg.pools().put(make_pool("p"));
    CHECK(error_code_of([&] {
            f.reg.pools().update(
                "p", [](Pool& p) { p.description = "x"; }, Expect{.revision = first.revision + 1});
          }) == errc::conflict);
    CHECK(test::image(f.reg.pools().get("p")) == test::image(first));
    Pool ok = f.reg.pools().update(
        "p", [](Pool& p) { p.description = "x"; }, Expect{.revision = first.revision});
    CHECK(ok.description == "x");
  }

  SUBCASE("update of an absent name fails with not_found") {
    CHECK(error_code_of([&] { f.reg.pools().update("none", [](Pool&) {}); }) == errc::not_found);
  }

  SUBCASE("remove honours Expect") {
    Pool first = f.reg.pools().put(make_pool("p"));
    CHECK(error_code_of([&] {
            f.reg.pools().remove("p", Expect{.revision = first.revision + 1});
          }) == errc::conflict);
    CHECK(f.reg.pools().find("p").has_value());
    CHECK(f.reg.pools().remove("p", Expect{.revision = first.revision}));
    CHECK_FALSE(f.reg.pools().find("p").has_value());
  }
}

TEST_CASE_TEMPLATE("pools: remove", Mode, test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  f.reg.pools().put(make_pool("p"));
  const auto rev = f.reg.revision();
  CHECK_FALSE(f.reg.pools().remove("none"));
  CHECK(f.reg.revision() == rev);
  CHECK(f.reg.pools().remove("p"));
  CHECK(f.reg.revision() == rev + 1);
  CHECK_FALSE(f.reg.pools().find("p").has_value());
  CHECK_FALSE(f.reg.pools().remove("p"));
  CHECK(f.reg.pools().count() == 0);
}

TEST_CASE_TEMPLATE("pools: list by type, ordered by name, with paging", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  f.reg.pools().put(make_pool("g2", PoolType::global));
  f.reg.pools().put(make_pool("l1", PoolType::local));
  f.reg.pools().put(make_pool("e1", PoolType::encrypted));
  f.reg.pools().put(make_pool("g1", PoolType::global));
  f.reg.pools().put(make_pool("l2", PoolType::local));
  f.reg.pools().put(make_pool("g3", PoolType::global));

  CHECK(names(f.reg.pools().list()) == Names{"e1", "g1", "g2", "g3", "l1", "l2"});
  CHECK(names(f.reg.pools().list(of_type(PoolType::global))) == Names{"g1", "g2", "g3"});
  CHECK(names(f.reg.pools().list(of_type(PoolType::local))) == Names{"l1", "l2"});
  CHECK(names(f.reg.pools().list(of_type(PoolType::encrypted))) == Names{"e1"});
  CHECK(f.reg.pools().count() == 6);
  CHECK(f.reg.pools().count(of_type(PoolType::global)) == 3);
  CHECK(f.reg.pools().count(of_type(PoolType::encrypted)) == 1);

  SUBCASE("paging") {
    CHECK(names(f.reg.pools().list(PoolQuery{.type = {}, .after = {}, .limit = 4})) ==
          Names{"e1", "g1", "g2", "g3"});
    CHECK(names(f.reg.pools().list(PoolQuery{.type = {}, .after = "g3", .limit = 4})) ==
          Names{"l1", "l2"});
    CHECK(names(f.reg.pools().list(
              PoolQuery{.type = PoolType::global, .after = "g1", .limit = 1})) == Names{"g2"});
    CHECK(f.reg.pools().count(PoolQuery{.type = PoolType::global, .after = "g1", .limit = 1}) == 3);
  }

  SUBCASE("after a pool changes type") {
    f.reg.pools().update("g1", [](Pool& p) { p.type = PoolType::local; });
    CHECK(names(f.reg.pools().list(of_type(PoolType::global))) == Names{"g2", "g3"});
    CHECK(names(f.reg.pools().list(of_type(PoolType::local))) == Names{"g1", "l1", "l2"});
  }
}

TEST_CASE_TEMPLATE("pools: removing a pool that blocks still name fails with constraint", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  Pool pool = f.reg.pools().put(make_pool("p"));
  f.reg.blocks().put(make_block("b1", "p"));
  f.reg.blocks().put(make_block("b2", "p"));
  const auto rev = f.reg.revision();

  CHECK(error_code_of([&] { f.reg.pools().remove("p"); }) == errc::constraint);
  CHECK(error_code_of([&] { f.reg.pools().remove("p", Expect{}, Cascade::no); }) ==
        errc::constraint);
  CHECK(test::image(f.reg.pools().get("p")) == test::image(pool));
  CHECK(f.reg.blocks().count() == 2);
  CHECK(f.reg.revision() == rev);
  CHECK(f.reg.changes(rev + 1).empty());

  SUBCASE("and succeeds once the blocks are gone") {
    CHECK(f.reg.blocks().remove("b1"));
    CHECK(f.reg.blocks().remove("b2"));
    CHECK(f.reg.pools().remove("p"));
  }
}

TEST_CASE_TEMPLATE("pools: a pool that holds blocks can still be changed", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  f.reg.pools().put(make_pool("p"));
  f.reg.blocks().put(make_block("b1", "p"));

  Pool edit = f.reg.pools().get("p");
  edit.description = "changed by put";
  CHECK(f.reg.pools().put(edit).description == "changed by put");
  CHECK(f.reg.pools().update("p", [](Pool& p) { p.type = PoolType::global; }).type ==
        PoolType::global);
  CHECK(f.reg.blocks().get("b1").pool == "p");
  CHECK(f.reg.blocks().count(
            cairn::MemoryBlockQuery{.pool = "p", .type = {}, .after = {}, .limit = {}}) == 1);
}

TEST_CASE_TEMPLATE("pools: remove with Cascade::yes removes the pool and its blocks at once", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  f.reg.pools().put(make_pool("p"));
  f.reg.pools().put(make_pool("q"));
  f.reg.blocks().put(make_block("b1", "p"));
  f.reg.blocks().put(make_block("b2", "p"));
  f.reg.blocks().put(make_block("b3", "p"));
  f.reg.blocks().put(make_block("keep", "q"));
  const auto rev = f.reg.revision();

  CHECK(f.reg.pools().remove("p", Expect{}, Cascade::yes));

  CHECK_FALSE(f.reg.pools().find("p").has_value());
  CHECK_FALSE(f.reg.blocks().find("b1").has_value());
  CHECK_FALSE(f.reg.blocks().find("b2").has_value());
  CHECK_FALSE(f.reg.blocks().find("b3").has_value());
  CHECK(f.reg.blocks().find("keep").has_value());
  CHECK(f.reg.pools().find("q").has_value());
  CHECK(f.reg.revision() == rev + 1);

  auto events = f.reg.changes(rev + 1);
  REQUIRE(events.size() == 4);
  std::vector<std::string> block_ids;
  int pool_events = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    CHECK(e.revision == rev + 1);
    CHECK(e.index == i);
    CHECK(e.op == cairn::Op::removed);
    CHECK_FALSE(e.after.has_value());
    CHECK(e.before.has_value());
    if (e.kind == cairn::Kind::memory_block) {
      CHECK(e.topic == "memory_block.removed");
      block_ids.push_back(e.id);
    } else {
      CHECK(e.kind == cairn::Kind::pool);
      CHECK(e.topic == "pool.removed");
      CHECK(e.id == "p");
      ++pool_events;
    }
  }
  std::sort(block_ids.begin(), block_ids.end());
  CHECK(block_ids == Names{"b1", "b2", "b3"});
  CHECK(pool_events == 1);

  SUBCASE("a pool without blocks, and an absent one") {
    CHECK(f.reg.blocks().remove("keep"));
    CHECK(f.reg.pools().remove("q", Expect{}, Cascade::yes));
    CHECK_FALSE(f.reg.pools().remove("q", Expect{}, Cascade::yes));
  }
}

TEST_CASE_TEMPLATE("pools: a cascade whose Expect fails removes nothing", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  Pool p = f.reg.pools().put(make_pool("p"));
  f.reg.blocks().put(make_block("b1", "p"));
  const auto rev = f.reg.revision();
  CHECK(error_code_of([&] {
          f.reg.pools().remove("p", Expect{.revision = p.revision + 7}, Cascade::yes);
        }) == errc::conflict);
  CHECK(f.reg.pools().find("p").has_value());
  CHECK(f.reg.blocks().find("b1").has_value());
  CHECK(f.reg.revision() == rev);
}

TEST_CASE_TEMPLATE("pools: change-log events", Mode, test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  Pool first = f.reg.pools().create(make_pool("p"));
  auto created = test::events_at(f.reg, first.revision);
  REQUIRE(created.size() == 1);
  CHECK(created[0].kind == cairn::Kind::pool);
  CHECK(created[0].op == cairn::Op::created);
  CHECK(created[0].topic == "pool.created");
  CHECK(created[0].id == "p");
  CHECK(created[0].at == f.clock.now());
  CHECK(created[0].actor == "test-actor");
  CHECK_FALSE(created[0].before.has_value());
  REQUIRE(created[0].after.has_value());
  CHECK(created[0].after->at("description") == "shared scratch space");

  f.clock.advance(3);
  Pool second = f.reg.pools().update("p", [](Pool& p) { p.description = "v2"; });
  auto updated = test::events_at(f.reg, second.revision);
  REQUIRE(updated.size() == 1);
  CHECK(updated[0].topic == "pool.updated");
  CHECK(updated[0].op == cairn::Op::updated);
  CHECK(updated[0].at == f.clock.now());
  REQUIRE(updated[0].before.has_value());
  REQUIRE(updated[0].after.has_value());
  CHECK(updated[0].before->at("description") == "shared scratch space");
  CHECK(updated[0].after->at("description") == "v2");

  Pool third = f.reg.pools().put(make_pool("p", PoolType::global));
  auto put_event = test::events_at(f.reg, third.revision);
  REQUIRE(put_event.size() == 1);
  CHECK(put_event[0].topic == "pool.updated");

  CHECK(f.reg.pools().remove("p"));
  auto removed = test::events_at(f.reg, f.reg.revision());
  REQUIRE(removed.size() == 1);
  CHECK(removed[0].topic == "pool.removed");
  CHECK(removed[0].op == cairn::Op::removed);
  REQUIRE(removed[0].before.has_value());
  CHECK(removed[0].before->at("type") == "global");
  CHECK_FALSE(removed[0].after.has_value());
}

TEST_CASE("pools: type names and the JSON form round-trip") {
  for (PoolType t : {PoolType::local, PoolType::global, PoolType::encrypted}) {
    CAPTURE(t);
    CHECK(cairn::pool_type_from_string(cairn::to_string(t)) == t);
  }
  CHECK(std::string(cairn::to_string(PoolType::local)) == "local");
  CHECK(std::string(cairn::to_string(PoolType::global)) == "global");
  CHECK(std::string(cairn::to_string(PoolType::encrypted)) == "encrypted");

  Pool p = make_pool("p", PoolType::global);
  p.created_at = 1;
  p.updated_at = 2;
  p.revision = 3;
  json j = p;
  CHECK(j.at("type") == "global");
  Pool back = j.get<Pool>();
  CHECK(test::image(back) == j);
  CHECK(back.policies.read == Names{"*"});
  CHECK(back.config == p.config);
}
