// The memory block store: every verb, the block's version counter, the rule
// that a block's pool must exist, queries by pool and by type, and change-log
// events. Each test runs against an in-memory and an on-disk registry.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cairn/cairn.h"
#include "test_util.h"

using cairn::BlockType;
using cairn::errc;
using cairn::Expect;
using cairn::MemoryBlock;
using cairn::MemoryBlockQuery;
using cairn::Pool;
using nlohmann::json;
using test::error_code_of;

namespace {

using Ids = std::vector<std::string>;

Pool make_pool(std::string name) {
  Pool p;
  p.name = std::move(name);
  return p;
}

MemoryBlock make_block(std::string id, std::string pool, BlockType type = BlockType::binary) {
  MemoryBlock b;
  b.id = std::move(id);
  b.name = "Block " + b.id;
  b.pool = std::move(pool);
  b.size = 1 << 20;
  b.type = type;
  b.permissions = json{{"read", {"*"}}, {"write", {"app-a"}}};
  b.persistent = true;
  b.config = json{{"compression", "zstd"}, {"x-unknown", 1.5}};
  return b;
}

Ids ids(const std::vector<MemoryBlock>& blocks) {
  return test::keys_of(blocks, [](const MemoryBlock& b) { return b.id; });
}

MemoryBlockQuery in_pool(std::string pool) {
  return MemoryBlockQuery{.pool = std::move(pool), .type = {}, .after = {}, .limit = {}};
}

MemoryBlockQuery of_type(BlockType type) {
  return MemoryBlockQuery{.pool = {}, .type = type, .after = {}, .limit = {}};
}

// A registry with pools "p" and "q" already in it.
template <class Mode>
struct WithPools : test::Fixture<Mode> {
  WithPools() {
    this->reg.pools().put(make_pool("p"));
    this->reg.pools().put(make_pool("q"));
  }
};

}  // namespace

TEST_CASE_TEMPLATE("memory blocks: find and get of an absent id", Mode, test::InMemory,
                   test::OnDisk) {
  WithPools<Mode> f;
  CHECK_FALSE(f.reg.blocks().find("none").has_value());
  CHECK(error_code_of([&] { f.reg.blocks().get("none"); }) == errc::not_found);
  CHECK(f.reg.blocks().count() == 0);
  CHECK(f.reg.blocks().list().empty());
}

TEST_CASE_TEMPLATE("memory blocks: put then get returns the same record", Mode, test::InMemory,
                   test::OnDisk) {
  WithPools<Mode> f;
  MemoryBlock in = make_block("blk-1", "p", BlockType::json);
  in.encrypted = true;

  MemoryBlock stored = f.reg.blocks().put(in);
  CHECK(stored.id == "blk-1");
  CHECK(stored.name == "Block blk-1");
  CHECK(stored.pool == "p");
  CHECK(stored.size == 1 << 20);
  CHECK(stored.type == BlockType::json);
  CHECK(stored.permissions == in.permissions);
  CHECK(stored.persistent);
  CHECK(stored.encrypted);
  CHECK(stored.config == in.config);
  CHECK(stored.created_at == f.clock.now());
  CHECK(stored.updated_at == f.clock.now());
  CHECK(stored.revision == f.reg.revision());

  CHECK(test::image(f.reg.blocks().get("blk-1")) == test::image(stored));
  auto found = f.reg.blocks().find("blk-1");
  REQUIRE(found.has_value());
  CHECK(test::image(*found) == test::image(stored));

  SUBCASE("sizes at both ends of the range are kept") {
    MemoryBlock zero = make_block("zero", "p");
    zero.size = 0;
    CHECK(f.reg.blocks().put(zero).size == 0);
    MemoryBlock huge = make_block("huge", "p");
    huge.size = std::int64_t{1} << 50;
    f.reg.blocks().put(huge);
    CHECK(f.reg.blocks().get("huge").size == std::int64_t{1} << 50);
  }
}

TEST_CASE_TEMPLATE("memory blocks: create of a present id fails with already_exists", Mode,
                   test::InMemory, test::OnDisk) {
  WithPools<Mode> f;
  MemoryBlock first = f.reg.blocks().create(make_block("b", "p"));
  CHECK(error_code_of([&] { f.reg.blocks().create(make_block("b", "q")); }) ==
        errc::already_exists);
  CHECK(test::image(f.reg.blocks().get("b")) == test::image(first));
  CHECK(f.reg.revision() == first.revision);
}

TEST_CASE_TEMPLATE("memory blocks: version is 1 on create and +1 on each update", Mode,
                   test::InMemory, test::OnDisk) {
  WithPools<Mode> f;
  MemoryBlock in = make_block("b", "p");
  in.version = 42;  // ignored: the registry counts

  MemoryBlock v1 = f.reg.blocks().create(in);
  CHECK(v1.version == 1);

  MemoryBlock edit = v1;
  edit.size = 10;
  edit.version = 500;
  MemoryBlock v2 = f.reg.blocks().put(edit);
  CHECK(v2.version == 2);

  MemoryBlock v3 = f.reg.blocks().update("b", [](MemoryBlock& b) {
    b.size = 20;
    b.version = 0;
  });
  CHECK(v3.version == 3);
  CHECK(f.reg.blocks().get("b").version == 3);

  SUBCASE("put of a new id starts at 1") {
    CHECK(f.reg.blocks().put(make_block("fresh", "p")).version == 1);
  }
  SUBCASE("a failed write does not count") {
    CHECK(error_code_of([&] { f.reg.blocks().put(edit, Expect{.revision = v1.revision}); }) ==
          errc::conflict);
    CHECK(f.reg.blocks().get("b").version == 3);
    CHECK(f.reg.blocks().put(edit).version == 4);
  }
  SUBCASE("a removed and re-created block starts again at 1") {
    CHECK(f.reg.blocks().remove("b"));
    CHECK(f.reg.blocks().create(make_block("b", "p")).version == 1);
  }
}

TEST_CASE_TEMPLATE("memory blocks: a block in a missing pool fails with constraint", Mode,
                   test::InMemory, test::OnDisk) {
  WithPools<Mode> f;
  const auto rev = f.reg.revision();

  SUBCASE("create") {
    CHECK(error_code_of([&] { f.reg.blocks().create(make_block("b", "missing")); }) ==
          errc::constraint);
    CHECK_FALSE(f.reg.blocks().find("b").has_value());
    CHECK(f.reg.revision() == rev);
  }
  SUBCASE("put") {
    CHECK(error_code_of([&] { f.reg.blocks().put(make_block("b", "missing")); }) ==
          errc::constraint);
    CHECK_FALSE(f.reg.blocks().find("b").has_value());
    CHECK(f.reg.revision() == rev);
  }
  SUBCASE("moving a block with put") {
    f.reg.blocks().put(make_block("b", "p"));
    CHECK(error_code_of([&] { f.reg.blocks().put(make_block("b", "missing")); }) ==
          errc::constraint);
    CHECK(f.reg.blocks().get("b").pool == "p");
    CHECK(f.reg.revision() == rev + 1);
  }
  SUBCASE("moving a block with update") {
    f.reg.blocks().put(make_block("b", "p"));
    CHECK(error_code_of([&] {
            f.reg.blocks().update("b", [](MemoryBlock& b) { b.pool = "missing"; });
          }) == errc::constraint);
    CHECK(f.reg.blocks().get("b").pool == "p");
    CHECK(f.reg.blocks().get("b").version == 1);
    CHECK(f.reg.revision() == rev + 1);
  }
  SUBCASE("after the pool was removed") {
    CHECK(f.reg.pools().remove("q"));
    CHECK(error_code_of([&] { f.reg.blocks().put(make_block("b", "q")); }) == errc::constraint);
    CHECK(f.reg.revision() == rev + 1);
  }
  CHECK(f.reg.blocks().count(in_pool("missing")) == 0);
  CHECK(f.reg.changes(rev + 2).empty());
}

TEST_CASE_TEMPLATE("memory blocks: moving a block to another existing pool", Mode, test::InMemory,
                   test::OnDisk) {
  WithPools<Mode> f;
  f.reg.blocks().put(make_block("b", "p"));
  MemoryBlock moved = f.reg.blocks().update("b", [](MemoryBlock& b) { b.pool = "q"; });
  CHECK(moved.pool == "q");
  CHECK(f.reg.blocks().list(in_pool("p")).empty());
  CHECK(ids(f.reg.blocks().list(in_pool("q"))) == Ids{"b"});
  // p no longer holds blocks, so it can go without a cascade.
  CHECK(f.reg.pools().remove("p"));
}

TEST_CASE_TEMPLATE("memory blocks: compare-and-swap with Expect", Mode, test::InMemory,
                   test::OnDisk) {
  WithPools<Mode> f;

  SUBCASE("put with Expect{0} creates only when absent") {
    MemoryBlock first = f.reg.blocks().put(make_block("b", "p"), Expect{.revision = 0});
    CHECK(first.version == 1);
    CHECK(error_code_of([&] { f.reg.blocks().put(make_block("b", "p"), Expect{.revision = 0}); }) ==
          errc::conflict);
    CHECK(f.reg.blocks().get("b").version == 1);
  }

  SUBCASE("put with the current revision succeeds, a stale one fails") {
    MemoryBlock first = f.reg.blocks().put(make_block("b", "p"));
    MemoryBlock edit = first;
    edit.size = 1;
    MemoryBlock second = f.reg.blocks().put(edit, Expect{.revision = first.revision});
    CHECK(second.size == 1);
    edit.size = 2;
    CHECK(error_code_of([&] { f.reg.blocks().put(edit, Expect{.revision = first.revision}); }) ==
          errc::conflict);
    CHECK(test::image(f.reg.blocks().get("b")) == test::image(second));
  }

  SUBCASE("update honours Expect") {
    MemoryBlock first = f.reg.blocks().put(make_block("b", "p"));
    CHECK(error_code_of([&] {
            f.reg.blocks().update(
                "b", [](MemoryBlock& b) { b.size = 5; }, Expect{.revision = first.revision - 1});
          }) == errc::conflict);
    CHECK(f.reg.blocks().get("b").size == first.size);
    CHECK(f.reg.blocks()
              .update(
                  "b", [](MemoryBlock& b) { b.size = 5; }, Expect{.revision = first.revision})
              .size == 5);
  }

  SUBCASE("update of an absent id fails with not_found") {
    CHECK(error_code_of([&] { f.reg.blocks().update("none", [](MemoryBlock&) {}); }) ==
          errc::not_found);
  }

  SUBCASE("remove honours Expect and returns false when absent") {
    MemoryBlock first = f.reg.blocks().put(make_block("b", "p"));
    CHECK(error_code_of([&] {
            f.reg.blocks().remove("b", Expect{.revision = first.revision + 1});
          }) == errc::conflict);
    CHECK(f.reg.blocks().find("b").has_value());
    CHECK(f.reg.blocks().remove("b", Expect{.revision = first.revision}));
    CHECK_FALSE(f.reg.blocks().find("b").has_value());
    const auto rev = f.reg.revision();
    CHECK_FALSE(f.reg.blocks().remove("b"));
    CHECK(f.reg.revision() == rev);
  }
}

TEST_CASE_TEMPLATE("memory blocks: list by pool and by type, with paging", Mode, test::InMemory,
                   test::OnDisk) {
  WithPools<Mode> f;
  f.reg.blocks().put(make_block("b5", "p", BlockType::binary));
  f.reg.blocks().put(make_block("b1", "p", BlockType::json));
  f.reg.blocks().put(make_block("b3", "q", BlockType::json));
  f.reg.blocks().put(make_block("b2", "p", BlockType::stream));
  f.reg.blocks().put(make_block("b4", "q", BlockType::binary));
  f.reg.blocks().put(make_block("b6", "p", BlockType::json));

  CHECK(ids(f.reg.blocks().list()) == Ids{"b1", "b2", "b3", "b4", "b5", "b6"});
  CHECK(ids(f.reg.blocks().list(in_pool("p"))) == Ids{"b1", "b2", "b5", "b6"});
  CHECK(ids(f.reg.blocks().list(in_pool("q"))) == Ids{"b3", "b4"});
  CHECK(f.reg.blocks().list(in_pool("none")).empty());
  CHECK(ids(f.reg.blocks().list(of_type(BlockType::json))) == Ids{"b1", "b3", "b6"});
  CHECK(ids(f.reg.blocks().list(of_type(BlockType::stream))) == Ids{"b2"});
  CHECK(ids(f.reg.blocks().list(MemoryBlockQuery{
            .pool = "p", .type = BlockType::json, .after = {}, .limit = {}})) == Ids{"b1", "b6"});

  CHECK(f.reg.blocks().count() == 6);
  CHECK(f.reg.blocks().count(in_pool("p")) == 4);
  CHECK(f.reg.blocks().count(of_type(BlockType::binary)) == 2);
  CHECK(f.reg.blocks().count(
            MemoryBlockQuery{.pool = "q", .type = BlockType::json, .after = {}, .limit = {}}) == 1);

  SUBCASE("paging") {
    CHECK(ids(f.reg.blocks().list(MemoryBlockQuery{
              .pool = {}, .type = {}, .after = {}, .limit = 4})) == Ids{"b1", "b2", "b3", "b4"});
    CHECK(ids(f.reg.blocks().list(MemoryBlockQuery{
              .pool = {}, .type = {}, .after = "b4", .limit = 4})) == Ids{"b5", "b6"});
    CHECK(ids(f.reg.blocks().list(
              MemoryBlockQuery{.pool = "p", .type = {}, .after = "b2", .limit = 1})) == Ids{"b5"});
    CHECK(f.reg.blocks().count(
              MemoryBlockQuery{.pool = "p", .type = {}, .after = "b2", .limit = 1}) == 4);
  }

  SUBCASE("after a block changes type") {
    f.reg.blocks().update("b1", [](MemoryBlock& b) { b.type = BlockType::stream; });
    CHECK(ids(f.reg.blocks().list(of_type(BlockType::json))) == Ids{"b3", "b6"});
    CHECK(ids(f.reg.blocks().list(of_type(BlockType::stream))) == Ids{"b1", "b2"});
  }
}

TEST_CASE_TEMPLATE("memory blocks: change-log events", Mode, test::InMemory, test::OnDisk) {
  WithPools<Mode> f;
  MemoryBlock first = f.reg.blocks().create(make_block("b", "p"));
  auto created = test::events_at(f.reg, first.revision);
  REQUIRE(created.size() == 1);
  CHECK(created[0].kind == cairn::Kind::memory_block);
  CHECK(created[0].op == cairn::Op::created);
  CHECK(created[0].topic == "memory_block.created");
  CHECK(created[0].id == "b");
  CHECK(created[0].actor == "test-actor");
  CHECK(created[0].at == f.clock.now());
  CHECK_FALSE(created[0].before.has_value());
  REQUIRE(created[0].after.has_value());
  CHECK(created[0].after->at("pool") == "p");
  CHECK(created[0].after->at("version") == 1);

  MemoryBlock second = f.reg.blocks().update("b", [](MemoryBlock& b) { b.size = 7; });
  auto updated = test::events_at(f.reg, second.revision);
  REQUIRE(updated.size() == 1);
  CHECK(updated[0].topic == "memory_block.updated");
  CHECK(updated[0].op == cairn::Op::updated);
  REQUIRE(updated[0].before.has_value());
  REQUIRE(updated[0].after.has_value());
  CHECK(updated[0].before->at("size") == first.size);
  CHECK(updated[0].after->at("size") == 7);
  CHECK(updated[0].after->at("version") == 2);

  CHECK(f.reg.blocks().remove("b"));
  auto removed = test::events_at(f.reg, f.reg.revision());
  REQUIRE(removed.size() == 1);
  CHECK(removed[0].topic == "memory_block.removed");
  CHECK(removed[0].op == cairn::Op::removed);
  REQUIRE(removed[0].before.has_value());
  CHECK(removed[0].before->at("size") == 7);
  CHECK_FALSE(removed[0].after.has_value());
}

TEST_CASE("memory blocks: type names and the JSON form round-trip") {
  for (BlockType t : {BlockType::binary, BlockType::json, BlockType::stream}) {
    CAPTURE(t);
    CHECK(cairn::block_type_from_string(cairn::to_string(t)) == t);
  }
  CHECK(std::string(cairn::to_string(BlockType::binary)) == "binary");
  CHECK(std::string(cairn::to_string(BlockType::json)) == "json");
  CHECK(std::string(cairn::to_string(BlockType::stream)) == "stream");

  MemoryBlock b = make_block("b", "p", BlockType::stream);
  b.version = 4;
  b.size = (std::int64_t{1} << 50) - 1;
  b.revision = 9;
  json j = b;
  CHECK(j.at("type") == "stream");
  MemoryBlock back = j.get<MemoryBlock>();
  CHECK(test::image(back) == j);
  CHECK(back.size == (std::int64_t{1} << 50) - 1);
  CHECK(back.version == 4);
  CHECK(back.permissions == b.permissions);
}
