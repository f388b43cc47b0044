// Hostile identifiers and names: quotes, `;`, `--`, SQL injection text, NUL
// bytes, valid and invalid UTF-8 (RTL marks, emoji, overlong forms), 10 KB
// values, empty values, leading '.' or '/', `..`, whitespace and control bytes,
// in every kind's key (app id, pool name, memory block id, config key), in the
// name-like fields (app pools[] and triggers[], block pool, pool owners and
// policies) and in the free-text fields (description, block name,
// protocol_version, JSON strings and keys), through create/put/get/find/
// remove/list(after, pool).
//
// Each value is either rejected with errc::invalid_argument, before anything
// is written, with a message that names the record and the field, stays under
// 300 bytes and shows at most a short, escaped prefix of the value; or it is
// stored and read back byte for byte.
//
// The SQL side is watched from inside SQLite: an auto-extension gives every
// connection the library opens an authorizer (counting (action, object)
// pairs) and a statement trace (recording each statement's SQL text). Then:
//   (a) no statement text contains a hostile value, and every statement text
//       of a hostile run also occurs in the benign run: SQL is constants with
//       parameters, never built from input;
//   (b) the (action, object) pairs of a hostile run are a subset of those of
//       the benign run of the same operations: no DROP, DELETE, ATTACH or
//       PRAGMA that the benign run did not do;
//   (c) a hostile run that takes the same path as its benign twin (both
//       stored) runs exactly as many statements.
// Nothing here is random.

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cairn/cairn.h"
#include "test_util.h"

namespace {

using namespace std::string_literals;
namespace fs = std::filesystem;

// ---- SQLite instrumentation ------------------------------------------------

// What the hooks saw while recording was on, over every connection.
struct Recorded {
  std::vector<std::string> statements{};                  // SQL text, one per execution
  std::map<std::pair<int, std::string>, long> actions{};  // (authorizer action, object): count
};

// The hooks' switch, and what they saw: SQL, not events (test::Recorder's).
struct HookRecorder {
  std::mutex mu{};
  bool on = false;
  Recorded seen{};
};

HookRecorder& recorder() {
  static HookRecorder r;
  return r;
}

// The object of an authorizer call: a table (read, insert, update, delete,
// create, drop), a pragma's name, a function's name or a transaction verb.
int on_authorize(void*, int action, const char* arg3, const char* arg4, const char*, const char*) {
  HookRecorder& r = recorder();
  std::lock_guard lock(r.mu);
  if (r.on) {
    const char* object = action == SQLITE_FUNCTION ? arg4 : arg3;
    r.seen.actions[{action, object != nullptr ? object : ""}]++;
  }
  return SQLITE_OK;
}

// SQLITE_TRACE_STMT: `x` is the statement's unexpanded SQL text (parameters
// shown as `?`), or a "-- TRIGGER name" comment when a trigger starts.
int on_trace(unsigned type, void*, void* stmt, void* x) {
  if (type != SQLITE_TRACE_STMT) return 0;
  HookRecorder& r = recorder();
  std::lock_guard lock(r.mu);
  if (r.on) {
    r.seen.statements.emplace_back(static_cast<const char*>(x));
    // The prepared text too, in case a trigger comment stood in for it.
    const char* sql = sqlite3_sql(static_cast<sqlite3_stmt*>(stmt));
    if (sql != nullptr && std::string_view(sql) != static_cast<const char*>(x)) {
      r.seen.statements.emplace_back(sql);
    }
  }
  return 0;
}

int install_hooks(sqlite3* db, const char**, const sqlite3_api_routines*) {
  sqlite3_set_authorizer(db, on_authorize, nullptr);
  sqlite3_trace_v2(db, SQLITE_TRACE_STMT, on_trace, nullptr);
  return SQLITE_OK;
}

// Every connection opened after this call, by anyone in the process, gets
// the hooks. Registered once.
void install_auto_extension() {
  static const bool installed = [] {
    REQUIRE(sqlite3_auto_extension(reinterpret_cast<void (*)()>(install_hooks)) == SQLITE_OK);
    return true;
  }();
  (void)installed;
}

// What the hooks saw while fn() ran. Background threads of a registry with
// no subscriber and no scheduled backup run no SQL, so this is fn's SQL.
template <class Fn>
Recorded record(Fn&& fn) {
  install_auto_extension();
  {
    std::lock_guard lock(recorder().mu);
    recorder().seen = {};
    recorder().on = true;
  }
  struct Stop {
    ~Stop() {
      std::lock_guard lock(recorder().mu);
      recorder().on = false;
    }
  } stop;
  fn();
  std::lock_guard lock(recorder().mu);
  return recorder().seen;
}

std::set<std::pair<int, std::string>> action_set(const Recorded& r) {
  std::set<std::pair<int, std::string>> out;
  for (const auto& [pair, count] : r.actions) out.insert(pair);
  return out;
}

std::string describe(const std::pair<int, std::string>& action) {
  return "(action " + std::to_string(action.first) + ", " + action.second + ")";
}

// (a) and (b): `hostile` ran no statement text that `benign` did not run, no
// statement containing a hostile value, and no (action, object) pair that
// `benign` did not have. Destructive actions never occur at all.
void check_hostile_within_benign(const Recorded& hostile, const Recorded& benign,
                                 const std::vector<std::string>& hostile_values) {
  const std::set<std::string> benign_sql(benign.statements.begin(), benign.statements.end());
  std::size_t foreign_statements = 0, tainted_statements = 0;
  for (const std::string& sql : hostile.statements) {
    if (!benign_sql.contains(sql)) {
      ++foreign_statements;
      if (foreign_statements <= 5) FAIL_CHECK("statement not seen in the benign run: ", sql);
    }
    for (const std::string& value : hostile_values) {
      // Values of 3 bytes or fewer ("--", "", "x") also occur in SQL by
      // chance; their absence is proven by the subset check above.
      if (value.size() > 3 && test::contains(sql, value)) {
        ++tainted_statements;
        FAIL_CHECK("statement contains a hostile value: ", sql);
      }
    }
  }
  CHECK(foreign_statements == 0);
  CHECK(tainted_statements == 0);

  const auto benign_actions = action_set(benign);
  for (const auto& action : action_set(hostile)) {
    CHECK_MESSAGE(benign_actions.contains(action),
                  "authorizer action only in the hostile run: ", describe(action));
  }
  for (const auto& [action, count] : hostile.actions) {
    const int code = action.first;
    const bool destructive = code == SQLITE_DROP_TABLE || code == SQLITE_DROP_INDEX ||
                             code == SQLITE_DROP_TRIGGER || code == SQLITE_DROP_VIEW ||
                             code == SQLITE_ATTACH || code == SQLITE_DETACH ||
                             code == SQLITE_ALTER_TABLE;
    CHECK_MESSAGE(!destructive, "destructive authorizer action: ", describe(action));
  }
}

// ---- Hostile values ------------------------------------------------------

struct Hostile {
  std::string label{};
  std::string bytes{};
  bool utf8 = true;  // valid UTF-8 (decides free-text fields)
};

std::string repeat_to(std::string_view unit, std::size_t size) {
  std::string out;
  while (out.size() < size) out += unit;
  out.resize(size);
  return out;
}

const std::vector<Hostile>& hostile_values() {
  static const std::vector<Hostile> values = {
      {"empty", "", true},
      {"double quote", "a\"b", true},
      {"single quote", "a'b", true},
      {"semicolon", "a;b", true},
      {"sql comment", "--", true},
      {"comment after key", "key--", true},
      {"drop table", "'); DROP TABLE apps;--", true},
      {"drop in double quotes", "\"); DROP TABLE pools; --", true},
      {"attach", "x'; ATTACH DATABASE '/tmp/evil.db' AS evil; --", true},
      {"pragma", "'; PRAGMA writable_schema=1; --", true},
      {"nul inside", "a\0b"s, true},
      {"nul only", "\0"s, true},
      {"nul then drop", "ok\0'); DROP TABLE apps;--"s, true},
      {"utf-8 e acute", "caf\xc3\xa9", true},
      {"rtl override",
       "abc\xe2\x80\xae"
       "cba",
       true},
      {"rtl mark",
       "\xe2\x80\x8f"
       "x",
       true},
      {"emoji", "\xf0\x9f\x98\x80", true},
      {"zero width joiner",
       "a\xe2\x80\x8d"
       "b",
       true},
      {"invalid utf-8 ff", "\xff\xfe", false},
      {"overlong slash",
       "a\xc0\xaf"
       "b",
       false},
      {"lone continuation", "\x80", false},
      {"truncated sequence", "x\xe2\x82", false},
      {"surrogate", "\xed\xa0\x80", false},
      {"10 KB of x", std::string(10 * 1024, 'x'), true},
      {"10 KB of injection", repeat_to("'); DROP TABLE apps;--", 10 * 1024), true},
      {"10 KB of NUL", std::string(10 * 1024, '\0'), true},
      {"128 bytes", std::string(128, 'k'), true},
      {"129 bytes", std::string(129, 'k'), true},
      {"leading dot", ".hidden", true},
      {"leading slash", "/etc/passwd", true},
      {"dot dot", "..", true},
      {"dot", ".", true},
      {"dot dot inside", "a/../../etc/passwd", true},
      {"every key punctuation", "x:@/-._", true},
      {"leading space", " a", true},
      {"trailing space", "a ", true},
      {"tab", "a\tb", true},
      {"newline", "a\nb", true},
      {"carriage return", "a\r\nb", true},
      {"escape sequence", "\x1b[31mred\x1b[0m", true},
      {"backslash", "a\\b", true},
      {"format directives", "%s%n%x{}{0}", true},
      {"star", "*", true},
      {"percent and underscore", "a%_b", true},
  };
  return values;
}

// DESIGN section 3, written out independently of lib/: 1-128 bytes of
// [A-Za-z0-9._:@/-], not starting with '.' or '/'.
bool valid_key(std::string_view key) {
  if (key.empty() || key.size() > 128 || key.front() == '.' || key.front() == '/') return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '@' || c == '/' || c == '-';
  });
}

// Free text: valid UTF-8 and at most max_bytes.
bool valid_text(const Hostile& h, std::size_t max_bytes) {
  return h.utf8 && h.bytes.size() <= max_bytes;
}

// A free-form JSON field holding `value` fits the default limits: valid
// UTF-8, and at most 64 KiB serialized (a NUL byte serializes as 6).
bool valid_json(const Hostile& h, const nlohmann::json& value) {
  return h.utf8 && value.dump().size() <= 64 * 1024;
}

// Byte-exact, readable in a failure message.
std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 64)) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > 64) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

// A message about a hostile value: bounded, printable ASCII only (control
// bytes, NUL and non-ASCII escaped), never the whole value when it is long,
// and naming the record (`app "`) and, when given, the field.
void check_message(std::string_view message, std::string_view noun, std::string_view field,
                   const std::string& value) {
  INFO("message: ", printable(message));
  CHECK(message.size() < 300);
  CHECK(test::contains(message, std::string(noun) + " \""));
  if (!field.empty()) CHECK(test::contains(message, ": " + std::string(field) + ":"));
  const bool printable_only = std::all_of(message.begin(), message.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
  CHECK(printable_only);
  if (value.size() > 64) CHECK_FALSE(test::contains(message, value.substr(0, 65)));
}

// A write with a hostile value in some field: stored (then `check_stored`
// reads it back) or refused with invalid_argument before anything is written.
template <class Write, class CheckStored>
void expect_stored_or_refused(cairn::Registry& reg, bool should_store, std::string_view noun,
                              std::string_view field, const std::string& value, Write&& write,
                              CheckStored&& check_stored) {
  const cairn::Revision before = reg.revision();
  const auto error = test::error_of(write);
  if (should_store) {
    REQUIRE_MESSAGE(!error, "refused: ", error ? printable(error->what()) : "");
    CHECK(reg.revision() == before + 1);
    check_stored();
  } else {
    REQUIRE_MESSAGE(error.has_value(), "stored, but the value breaks the rules");
    CHECK(test::code(*error) == cairn::errc::invalid_argument);
    check_message(error->what(), noun, field, value);
    CHECK(reg.revision() == before);
  }
}

// ---- The stored path: one scenario, run with benign and hostile values ----

struct Values {
  std::string key{};         // every kind's key, and the names that refer to it
  std::string other{};       // a second key: owners, triggers, policies
  std::string text{};        // description, JSON strings and keys (UTF-8, <= 4 KiB)
  std::string short_text{};  // protocol_version (<= 64 bytes), block name
};

// Creates, reads, lists, updates and removes one record of each kind, all
// built from `v`, and checks that every value comes back byte for byte.
void stored_scenario(cairn::Registry& reg, const Values& v) {
  INFO("key ", printable(v.key), ", text ", printable(v.text));
  const cairn::Revision first = reg.revision() + 1;
  cairn::Pool pool;
  pool.name = v.key;
  pool.owners = {v.other};
  pool.policies.read = {v.other};
  pool.policies.write = {"*", v.other};
  pool.description = v.text;
  pool.config = {{"note", v.text}};
  const cairn::Pool p = reg.pools().create(pool);

  cairn::App app;
  app.id = v.key;
  app.pools = {v.key};
  app.triggers = {v.other};
  app.meta = {{v.text, v.short_text}};
  app.protocol_version = v.short_text;
  const cairn::App a = reg.apps().create(app);

  cairn::MemoryBlock block;
  block.id = v.key;
  block.name = v.short_text;
  block.pool = v.key;
  block.permissions = {{"read", v.text}};
  const cairn::MemoryBlock b = reg.blocks().create(block);

  const cairn::ConfigEntry c = reg.config().create({.key = v.key, .value = v.text});

  // Byte for byte, from the writes' results and from the database.
  for (const cairn::Pool& got : {p, reg.pools().get(v.key), *reg.pools().find(v.key)}) {
    CHECK(got.name == v.key);
    CHECK(got.owners == std::vector<std::string>{v.other});
    CHECK(got.policies.read == std::vector<std::string>{v.other});
    CHECK(got.policies.write == std::vector<std::string>{"*", v.other});
    CHECK(got.description == v.text);
    CHECK(got.config.at("note").get<std::string>() == v.text);
  }
  for (const cairn::App& got : {a, reg.apps().get(v.key), *reg.apps().find(v.key)}) {
    CHECK(got.id == v.key);
    CHECK(got.pools == std::vector<std::string>{v.key});
    CHECK(got.triggers == std::vector<std::string>{v.other});
    CHECK(got.meta == app.meta);
    CHECK(got.protocol_version == v.short_text);
  }
  for (const cairn::MemoryBlock& got : {b, reg.blocks().get(v.key), *reg.blocks().find(v.key)}) {
    CHECK(got.id == v.key);
    CHECK(got.name == v.short_text);
    CHECK(got.pool == v.key);
    CHECK(got.permissions.at("read").get<std::string>() == v.text);
  }
  for (const cairn::ConfigEntry& got : {c, reg.config().get(v.key), *reg.config().find(v.key)}) {
    CHECK(got.key == v.key);
    CHECK(got.value.get<std::string>() == v.text);
  }
  CHECK(reg.config().load(v.key) == nlohmann::json(v.text));

  // Lists, paging past the key, and the by-pool queries.
  const auto app_ids = test::keys_of(reg.apps().list(), [](const cairn::App& x) { return x.id; });
  CHECK(app_ids == std::vector<std::string>{v.key});
  CHECK(reg.apps().list({.after = v.key}).empty());
  CHECK(reg.apps().in_pool(v.key).size() == 1);
  CHECK(reg.apps().count({.pool = v.key}) == 1);
  CHECK(reg.pools().list().at(0).name == v.key);
  CHECK(reg.pools().list({.after = v.key}).empty());
  CHECK(reg.blocks().list({.pool = v.key}).at(0).id == v.key);
  CHECK(reg.blocks().list({.after = v.key}).empty());
  CHECK(reg.config().list().at(0).key == v.key);
  CHECK(reg.config().list({.after = v.key}).empty());

  // Updates keep every value.
  CHECK(reg.apps().update(v.key, [](cairn::App& x) { x.rehydrated = true; }).id == v.key);
  CHECK(reg.pools().update(v.key, [](cairn::Pool& x) { x.encrypted = true; }).description ==
        v.text);
  CHECK(reg.blocks().update(v.key, [](cairn::MemoryBlock& x) { x.size = 7; }).name == v.short_text);
  CHECK(reg.config().save(v.key, v.text + "!").value.get<std::string>() == v.text + "!");

  // The change log names the records byte for byte.
  for (const cairn::Event& e : reg.changes(first)) CHECK(e.id == v.key);

  // Removal: present, then absent.
  CHECK(reg.blocks().remove(v.key));
  CHECK(reg.apps().remove(v.key));
  CHECK(reg.pools().remove(v.key));
  CHECK(reg.config().remove(v.key));
  CHECK_FALSE(reg.apps().find(v.key).has_value());
  CHECK_FALSE(reg.config().remove(v.key));
  const auto missing = test::error_of([&] { reg.pools().get(v.key); });
  REQUIRE(missing.has_value());
  CHECK(test::code(*missing) == cairn::errc::not_found);
  check_message(missing->what(), "pool", "", v.key);
}

// Either fn() checks the absent result itself, or it is refused with
// invalid_argument: both are fine for a key that breaks the rules.
template <class Fn>
void absent_or_refused(Fn&& fn) {
  const auto e = test::error_of(fn);
  if (e) CHECK(test::code(*e) == cairn::errc::invalid_argument);
}

// get() of an absent key: not_found (or invalid_argument), and a bounded,
// escaped message naming the record.
template <class Fn>
void check_get_absent(std::string_view noun, const std::string& key, Fn&& get) {
  const auto e = test::error_of(get);
  REQUIRE(e.has_value());
  CHECK((test::code(*e) == cairn::errc::not_found ||
         test::code(*e) == cairn::errc::invalid_argument));
  check_message(e->what(), noun, "", key);
}

// Reads and removes of a key that is not there, and queries for a pool
// nobody names: what the hostile matrix does with refused keys.
void absent_scenario(cairn::Registry& reg, const std::string& key) {
  absent_or_refused([&] { CHECK_FALSE(reg.apps().find(key).has_value()); });
  absent_or_refused([&] { CHECK_FALSE(reg.pools().find(key).has_value()); });
  absent_or_refused([&] { CHECK_FALSE(reg.blocks().find(key).has_value()); });
  absent_or_refused([&] { CHECK_FALSE(reg.config().find(key).has_value()); });
  absent_or_refused([&] { CHECK_FALSE(reg.config().load(key).has_value()); });
  check_get_absent("app", key, [&] { reg.apps().get(key); });
  check_get_absent("pool", key, [&] { reg.pools().get(key); });
  check_get_absent("memory_block", key, [&] { reg.blocks().get(key); });
  check_get_absent("config", key, [&] { reg.config().get(key); });
  absent_or_refused([&] { CHECK_FALSE(reg.apps().remove(key)); });
  absent_or_refused([&] { CHECK_FALSE(reg.pools().remove(key)); });
  absent_or_refused([&] { CHECK_FALSE(reg.blocks().remove(key)); });
  absent_or_refused([&] { CHECK_FALSE(reg.config().remove(key)); });
  absent_or_refused([&] { CHECK(reg.apps().list({.pool = key}).empty()); });
  absent_or_refused([&] { CHECK(reg.apps().count({.pool = key}) == 0); });
  absent_or_refused([&] { CHECK(reg.blocks().list({.pool = key}).empty()); });
  absent_or_refused([&] { CHECK(reg.blocks().count({.pool = key}) == 0); });
  absent_or_refused([&] { (void)reg.apps().list({.after = key}); });
  absent_or_refused([&] { (void)reg.pools().list({.after = key}); });
  absent_or_refused([&] { (void)reg.blocks().list({.after = key}); });
  absent_or_refused([&] { (void)reg.config().list({.after = key}); });
}

// Hostile values that every rule accepts, each with a benign twin of the
// same shape (same list sizes, so the same statements run).
std::vector<Values> hostile_stored_values() {
  return {
      {"--", "a--b", "'); DROP TABLE apps;--", "\"; DELETE FROM pools; --"},
      {"x:@/-._", "a/../../etc", "quote \" and ' and ` and \\", "a'b\"c"},
      {std::string(128, 'k'), "-", "nul\0inside"s, "\0"s},
      {"a/../b", "b..c",
       "abc\xe2\x80\xae"
       "cba \xe2\x80\x8f \xf0\x9f\x98\x80 caf\xc3\xa9",
       "\xf0\x9f\x98\x80\xe2\x80\x8d\xf0\x9f\x98\x80"},
      {"DROP", "ATTACH", repeat_to("'); DROP TABLE apps;--", 4096), "%s%n{}{0}"},
      {"key--", "@", "line1\nline2\r\n\ttab \x1b[31mred", "\x1b[31m\x07"},
      {"Robert:@--", "x", "x'; ATTACH DATABASE '/tmp/evil.db' AS evil; --",
       "'; PRAGMA writable_schema=1; --"},
  };
}

Values benign_twin(std::size_t i) {
  return {"benign-" + std::to_string(i), "owner-" + std::to_string(i), "plain text",
          "v" + std::to_string(i)};
}

// Also installs the hooks, so that every registry a test opens has them on
// all its connections (record() only switches the recording on).
cairn::Options test_options() {
  install_auto_extension();
  cairn::Options o;
  o.synchronous = cairn::Synchronous::normal;
  return o;
}

// Every byte sequence the stored values carry, for the statement-text check.
std::vector<std::string> parts_of(const Values& v) {
  return {v.key, v.other, v.text, v.short_text};
}

}  // namespace

TEST_CASE("hostile ids: values every rule accepts are stored and read back byte for byte") {
  test::TempDir dir;
  cairn::Registry reg = cairn::Registry::open(dir / "registry.db", test_options());
  for (const Values& v : hostile_stored_values()) stored_scenario(reg, v);
  CHECK(reg.integrity_check() == std::vector<std::string>{"ok"});
  CHECK(test::query_value(dir / "registry.db",
                          "SELECT count(*) FROM sqlite_schema WHERE name = 'apps'") == "1");
}

TEST_CASE("hostile ids: SQL is the same, statement for statement, as for benign values") {
  // (a), (b) and (c) for the stored path: each hostile value set runs in its
  // own new registry, and so does its benign twin.
  const auto values = hostile_stored_values();
  long hostile_statements = 0, benign_statements = 0;
  std::size_t hostile_pairs = 0, benign_pairs = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    test::TempDir benign_dir, hostile_dir;
    cairn::Registry benign_reg = cairn::Registry::open(benign_dir / "r.db", test_options());
    cairn::Registry hostile_reg = cairn::Registry::open(hostile_dir / "r.db", test_options());
    const Recorded benign = record([&] { stored_scenario(benign_reg, benign_twin(i)); });
    const Recorded hostile = record([&] { stored_scenario(hostile_reg, values[i]); });
    INFO("value set ", i, ": key ", printable(values[i].key));
    REQUIRE(benign.statements.size() > 20);  // the hooks are live
    check_hostile_within_benign(hostile, benign, parts_of(values[i]));
    CHECK(hostile.statements.size() == benign.statements.size());
    CHECK(action_set(hostile) == action_set(benign));
    hostile_statements += static_cast<long>(hostile.statements.size());
    benign_statements += static_cast<long>(benign.statements.size());
    hostile_pairs = std::max(hostile_pairs, action_set(hostile).size());
    benign_pairs = std::max(benign_pairs, action_set(benign).size());
    CHECK(test::query_value(hostile_dir / "r.db", "SELECT count(*) FROM sqlite_schema") ==
          test::query_value(benign_dir / "r.db", "SELECT count(*) FROM sqlite_schema"));
  }
  std::printf(
      "hostile ids, stored path: %zu value sets, statements hostile %ld / benign %ld, "
      "distinct (action, object) pairs per run hostile %zu / benign %zu\n",
      values.size(), hostile_statements, benign_statements, hostile_pairs, benign_pairs);
}

TEST_CASE_TEMPLATE("hostile ids: every key and name field stores or refuses each value", Mode,
                   test::InMemory, test::OnDisk) {
  test::TempDir dir;
  cairn::Registry reg = Mode::open(dir, test_options());
  reg.pools().create({.name = "p"});

  for (const Hostile& h : hostile_values()) {
    INFO("value: ", h.label, " = ", printable(h.bytes));
    const std::string& v = h.bytes;
    const bool key_ok = valid_key(v);

    // Keys.
    expect_stored_or_refused(
        reg, key_ok, "app", "id", v, [&] { reg.apps().create({.id = v}); },
        [&] { CHECK(reg.apps().get(v).id == v); });
    expect_stored_or_refused(
        reg, key_ok, "pool", "name", v, [&] { reg.pools().create({.name = v}); },
        [&] { CHECK(reg.pools().get(v).name == v); });
    expect_stored_or_refused(
        reg, key_ok, "memory_block", "id", v, [&] { reg.blocks().create({.id = v, .pool = "p"}); },
        [&] { CHECK(reg.blocks().get(v).id == v); });
    expect_stored_or_refused(
        reg, key_ok, "config", "key", v, [&] { reg.config().save(v, 1); },
        [&] { CHECK(reg.config().get(v).key == v); });
    // put() takes the same path as create(); a second write of a stored key
    // is an update and also keeps it.
    expect_stored_or_refused(
        reg, key_ok, "app", "id", v, [&] { reg.apps().put({.id = v, .rehydrated = true}); },
        [&] { CHECK(reg.apps().get(v).rehydrated); });

    // Reads, removes and paging with the value as a key.
    const auto found = reg.apps().find(v);
    CHECK(found.has_value() == key_ok);
    if (!key_ok) absent_scenario(reg, v);
    {
      // Keyset paging by byte order (std::string compares bytes as unsigned char).
      std::vector<std::string> all =
          test::keys_of(reg.apps().list(), [](const cairn::App& x) { return x.id; });
      std::vector<std::string> expected;
      for (const auto& id : all) {
        if (id > v) expected.push_back(id);
      }
      const auto paged = test::error_of([&] {
        CHECK(test::keys_of(reg.apps().list({.after = v}),
                            [](const cairn::App& x) { return x.id; }) == expected);
      });
      if (paged) CHECK(test::code(*paged) == cairn::errc::invalid_argument);
    }

    // Name-like fields of otherwise ordinary records.
    const std::vector<std::string> refs = {"ok", v};
    expect_stored_or_refused(
        reg, key_ok, "app", "pools[1]", v,
        [&] { reg.apps().put({.id = "ref-app", .pools = refs}); },
        [&] {
          CHECK(reg.apps().get("ref-app").pools == refs);
          CHECK(reg.apps().in_pool(v).size() == 1);
          CHECK(reg.apps().count({.pool = v}) == 1);
        });
    expect_stored_or_refused(
        reg, key_ok, "app", "triggers[1]", v,
        [&] { reg.apps().put({.id = "ref-app", .triggers = refs}); },
        [&] { CHECK(reg.apps().get("ref-app").triggers == refs); });
    expect_stored_or_refused(
        reg, key_ok, "pool", "owners[1]", v,
        [&] { reg.pools().put({.name = "ref-pool", .owners = refs}); },
        [&] { CHECK(reg.pools().get("ref-pool").owners == refs); });
    // "*" is every app, in policies only.
    const bool policy_ok = key_ok || v == "*";
    expect_stored_or_refused(
        reg, policy_ok, "pool", "policies.read[1]", v,
        [&] { reg.pools().put({.name = "ref-pool", .policies = {.read = refs}}); },
        [&] { CHECK(reg.pools().get("ref-pool").policies.read == refs); });
    expect_stored_or_refused(
        reg, policy_ok, "pool", "policies.write[1]", v,
        [&] { reg.pools().put({.name = "ref-pool", .policies = {.write = refs}}); },
        [&] { CHECK(reg.pools().get("ref-pool").policies.write == refs); });
    if (key_ok) reg.pools().put({.name = v});  // a block's pool must exist
    expect_stored_or_refused(
        reg, key_ok, "memory_block", "pool", v,
        [&] { reg.blocks().put({.id = "ref-block", .pool = v}); },
        [&] {
          CHECK(reg.blocks().get("ref-block").pool == v);
          CHECK(reg.blocks().list({.pool = v}).at(0).id == "ref-block");
        });

    // Free text and JSON strings.
    expect_stored_or_refused(
        reg, valid_text(h, 4096), "pool", "description", v,
        [&] { reg.pools().put({.name = "text-pool", .description = v}); },
        [&] { CHECK(reg.pools().get("text-pool").description == v); });
    expect_stored_or_refused(
        reg, valid_text(h, 256), "memory_block", "name", v,
        [&] { reg.blocks().put({.id = "text-block", .name = v, .pool = "p"}); },
        [&] { CHECK(reg.blocks().get("text-block").name == v); });
    expect_stored_or_refused(
        reg, valid_text(h, 64), "app", "protocol_version", v,
        [&] { reg.apps().put({.id = "text-app", .protocol_version = v}); },
        [&] { CHECK(reg.apps().get("text-app").protocol_version == v); });
    expect_stored_or_refused(
        reg, valid_json(h, nlohmann::json{{v, v}}), "app", "meta", v,
        [&] {
          reg.apps().put({.id = "text-app", .meta = {{v, v}}});
        },
        [&] {
          CHECK(reg.apps().get("text-app").meta == nlohmann::json{{v, v}});
        });
    expect_stored_or_refused(
        reg, valid_json(h, nlohmann::json(v)), "config", "value", v,
        [&] { reg.config().save("text-config", v); },
        [&] { CHECK(reg.config().load("text-config") == nlohmann::json(v)); });

    // Clean up what was stored under the value, so the next value starts
    // from the same records.
    if (key_ok) {
      CHECK(reg.blocks().remove("ref-block"));
      CHECK(reg.apps().remove(v));
      CHECK(reg.blocks().remove(v));
      CHECK(reg.pools().remove(v));
      CHECK(reg.config().remove(v));
    }
    CHECK_FALSE(reg.apps().remove(v));
    CHECK_FALSE(reg.config().remove(v));
  }
  CHECK(reg.apps().count() == 2);   // ref-app, text-app
  CHECK(reg.pools().count() == 3);  // p, ref-pool, text-pool
  CHECK(reg.integrity_check() == std::vector<std::string>{"ok"});
}

TEST_CASE("hostile ids: refused values run no SQL a benign run does not") {
  // (a) and (b) for the whole matrix, refused values included: every write
  // with a hostile value, then reads, removes and queries with it as a key.
  const std::vector<std::string> all_values = [] {
    std::vector<std::string> out;
    for (const Hostile& h : hostile_values()) out.push_back(h.bytes);
    return out;
  }();

  test::TempDir benign_dir, hostile_dir;
  cairn::Registry benign_reg = cairn::Registry::open(benign_dir / "r.db", test_options());
  cairn::Registry hostile_reg = cairn::Registry::open(hostile_dir / "r.db", test_options());
  const Recorded benign = record([&] {
    stored_scenario(benign_reg, benign_twin(0));
    absent_scenario(benign_reg, "absent-key");
  });

  long refused = 0, stored = 0;
  const Recorded hostile = record([&] {
    for (const Hostile& h : hostile_values()) {
      const std::string& v = h.bytes;
      INFO("value: ", h.label);
      const std::vector<std::function<void()>> writes = {
          [&] { hostile_reg.apps().create({.id = v}); },
          [&] { hostile_reg.pools().create({.name = v}); },
          [&] { hostile_reg.config().create({.key = v, .value = v}); },
          [&] { hostile_reg.apps().put({.id = "x", .pools = {v}}); },
          [&] { hostile_reg.apps().put({.id = "x", .triggers = {v}}); },
          [&] { hostile_reg.pools().put({.name = "x", .owners = {v}}); },
          [&] { hostile_reg.pools().put({.name = "x", .policies = {.read = {v}, .write = {v}}}); },
          [&] { hostile_reg.pools().put({.name = "x", .description = v}); },
          [&] {
            hostile_reg.apps().put({.id = "x", .meta = {{v, v}}, .protocol_version = v});
          },
      };
      for (const auto& write : writes) {
        const auto e = test::error_of(write);
        if (e) {
          CHECK(test::code(*e) == cairn::errc::invalid_argument);
          ++refused;
        } else {
          ++stored;
        }
      }
      if (valid_key(v)) {
        hostile_reg.apps().remove(v);
        hostile_reg.pools().remove(v);
        hostile_reg.config().remove(v);
      } else {
        absent_scenario(hostile_reg, v);
      }
    }
  });
  check_hostile_within_benign(hostile, benign, [&] {
    // Values of the hostile list that the benign run's SQL could not hold
    // by chance; "*" and the short ones are covered by the subset check.
    std::vector<std::string> out;
    for (const auto& v : all_values) {
      if (v != "*" && v != "DROP") out.push_back(v);
    }
    return out;
  }());
  CHECK(test::query_value(hostile_dir / "r.db",
                          "SELECT count(*) FROM sqlite_schema WHERE name IN ('apps', 'pools', "
                          "'memory_blocks', 'config')") ==
        test::query_value(benign_dir / "r.db",
                          "SELECT count(*) FROM sqlite_schema WHERE name IN ('apps', 'pools', "
                          "'memory_blocks', 'config')"));
  std::printf(
      "hostile ids, matrix: %zu values, %ld writes refused, %ld stored; statements hostile %zu / "
      "benign %zu; distinct (action, object) pairs hostile %zu / benign %zu\n",
      hostile_values().size(), refused, stored, hostile.statements.size(), benign.statements.size(),
      action_set(hostile).size(), action_set(benign).size());
}

TEST_CASE("hostile ids: the hooks would see SQL built from input (the checks can fail)") {
  // The same hooks on a connection that does what cairn must never do:
  // splice a value into SQL text, and ATTACH a database.
  test::TempDir dir;
  const std::string marker = "'); DROP TABLE apps;--";
  const Recorded seen = record([&] {
    test::exec_sql(dir / "raw.db", "CREATE TABLE apps (id TEXT); INSERT INTO apps VALUES ('x" +
                                       std::string("''") +
                                       "); DROP TABLE apps;--'); ATTACH DATABASE '" +
                                       (dir / "evil.db").string() + "' AS evil;");
  });
  const bool spliced = std::any_of(
      seen.statements.begin(), seen.statements.end(),
      [&](const std::string& sql) { return test::contains(sql, "); DROP TABLE apps;--"); });
  CHECK(spliced);
  CHECK(test::contains(marker, "); DROP TABLE apps;--"));
  CHECK(seen.actions.contains({SQLITE_ATTACH, dir / "evil.db"}));
  CHECK(seen.actions.contains({SQLITE_CREATE_TABLE, "apps"}));
}
