// Fuzz target: ids, names and keys made of arbitrary bytes (NUL, quotes, ';',
// '--', invalid UTF-8, 10 KB...), in every place a record holds one.
//
// Proves: the documented key rule (1-128 bytes of [A-Za-z0-9._:@/-], not
// starting with '.' or '/') is exactly what the stores accept:
//   - a write with a valid key succeeds, one with an invalid key fails with
//     errc::invalid_argument and writes nothing (count and revision unchanged);
//   - a stored key comes back byte for byte from get(), find(), list() and
//     the change event, list(after = key) returns only greater keys in
//     order, and remove() removes it;
//   - reads with an invalid key (get, find, remove, list after, queries by
//     pool) either fail with invalid_argument or behave as for an absent key:
//     not_found, nullopt, false, an ordered list of greater keys.
// Only cairn::Error may escape the library; anything else is a finding.
//
// Also: KV namespaces and keys (keys: 1-1024 bytes of UTF-8 without control
// characters), torrent info hashes (40 or 64 lowercase hex digits), and KV
// prefixes: list(prefix) and erase_prefix() match a plain filter of the keys.
// Also: free-text fields (a block's name, a pool's description, an app's
// protocol_version) are accepted exactly when they are valid UTF-8 (checked
// by an independent validator) within their size limit, and stored byte for
// byte (NUL included).
//
// Input layout: byte 0 picks where the bytes go. Below 0x80, b % 8: app id,
// pool name, memory block id, config key, an app's pools[], an app's
// triggers[], a pool's owners[] and policies, a block's pool. 0x80-0xbf: a
// text field (b % 3: block name, pool description, app protocol_version).
// 0xc0-0xff (b % 4): a KV namespace, a KV key, a torrent info_hash, a KV
// prefix for list() and erase_prefix().
// The rest is the key or text, as is.
// One in-memory registry per process; every input removes what it wrote.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.h"

namespace {

using cairn::errc;

// The registry, with the pool "p" that blocks are created in (an input with
// the pool name "p" may have removed it).
cairn::Registry& registry() {
  static cairn::Registry reg = cairn::Registry::open_in_memory(fuzz::fuzz_options());
  return reg;
}

void ensure_pool_p() {
  if (!registry().pools().find("p")) registry().pools().put(cairn::Pool{.name = "p"});
}

// The rule as records.h documents it, written independently of lib/.
bool valid_key(std::string_view key) {
  if (key.empty() || key.size() > 128 || key.front() == '.' || key.front() == '/') return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '@' || c == '/' || c == '-';
  });
}

// Well-formed UTF-8 as Unicode's table 3-7 defines it, written independently
// of lib/: no overlong forms, no surrogates, nothing past U+10FFFF.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const auto in = [](unsigned char c, unsigned lo, unsigned hi) { return c >= lo && c <= hi; };
  while (i < s.size()) {
    const unsigned char c = byte(i);
    std::size_t n = 0;
    unsigned lo = 0x80, hi = 0xbf;  // the range of the second byte
    if (c <= 0x7f) {
      n = 1;
    } else if (in(c, 0xc2, 0xdf)) {
      n = 2;
    } else if (in(c, 0xe0, 0xef)) {
      n = 3;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (in(c, 0xf0, 0xf4)) {
      n = 4;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    if (n > 1 && !in(byte(i + 1), lo, hi)) return false;
    for (std::size_t k = 2; k < n; ++k) {
      if (!in(byte(i + k), 0x80, 0xbf)) return false;
    }
    i += n;
  }
  return true;
}

// Keys sort bytewise (unsigned), like std::string's compare.
bool ordered_after(const std::vector<std::string>& keys, const std::string& after) {
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (!(keys[i] > after)) return false;
    if (i > 0 && !(keys[i - 1] < keys[i])) return false;
  }
  return true;
}

// Per kind: the store's verbs over a record whose key is `key`.
struct Apps {
  using Record = cairn::App;
  static cairn::AppStore store() { return registry().apps(); }
  static Record make(const std::string& key) { return Record{.id = key}; }
  static const std::string& key_of(const Record& r) { return r.id; }
  static std::vector<Record> list(const std::string& after) {
    return store().list(cairn::AppQuery{.after = after});
  }
};
struct Pools {
  using Record = cairn::Pool;
  static cairn::PoolStore store() { return registry().pools(); }
  static Record make(const std::string& key) { return Record{.name = key}; }
  static const std::string& key_of(const Record& r) { return r.name; }
  static std::vector<Record> list(const std::string& after) {
    return store().list(cairn::PoolQuery{.after = after});
  }
};
struct Blocks {
  using Record = cairn::MemoryBlock;
  static cairn::MemoryBlockStore store() { return registry().blocks(); }
  static Record make(const std::string& key) { return Record{.id = key, .pool = "p"}; }
  static const std::string& key_of(const Record& r) { return r.id; }
  static std::vector<Record> list(const std::string& after) {
    return store().list(cairn::MemoryBlockQuery{.after = after});
  }
};
struct Configs {
  using Record = cairn::ConfigEntry;
  static cairn::ConfigStore store() { return registry().config(); }
  static Record make(const std::string& key) { return Record{.key = key, .value = key.size()}; }
  static const std::string& key_of(const Record& r) { return r.key; }
  static std::vector<Record> list(const std::string& after) {
    return store().list(cairn::ConfigQuery{.after = after});
  }
};

template <class K>
std::vector<std::string> keys_after(const std::string& after, bool after_is_valid) {
  std::vector<std::string> keys;
  auto listed = fuzz::call("list(after)", {errc::invalid_argument}, [&] { return K::list(after); });
  if (!listed) {
    fuzz::check(!after_is_valid, "list(after = a valid key) failed with invalid_argument");
    return keys;
  }
  for (const auto& r : *listed) keys.push_back(K::key_of(r));
  fuzz::check(ordered_after(keys, after),
              "list(after = \"" + fuzz::shown(after) + "\") is not ordered or not after it");
  return keys;
}

// Reads of a key that is not stored behave as for an absent key, or fail
// with invalid_argument when the key is invalid.
template <class K>
void check_absent(const std::string& key, bool valid) {
  const std::string who = "\"" + fuzz::shown(key) + "\": ";
  auto got = fuzz::call("get", {errc::not_found, errc::invalid_argument},
                        [&] { return K::store().get(key); });
  fuzz::check(!got, who + "get() of an absent key returned a record");
  auto found = fuzz::call("find", {errc::invalid_argument}, [&] { return K::store().find(key); });
  fuzz::check(!found || !found->has_value(), who + "find() of an absent key found a record");
  if (valid) fuzz::check(found.has_value(), who + "find() of a valid key threw");
  auto removed =
      fuzz::call("remove", {errc::invalid_argument}, [&] { return K::store().remove(key); });
  fuzz::check(!removed || !*removed, who + "remove() of an absent key returned true");
  keys_after<K>(key, valid);
}

template <class K>
void run_key(const std::string& key) {
  const bool valid = valid_key(key);
  const std::string who = "\"" + fuzz::shown(key) + "\" (valid: " + (valid ? "yes" : "no") + "): ";
  // A previous input may have left nothing behind, but be sure.
  fuzz::call("remove", {errc::invalid_argument}, [&] { return K::store().remove(key); });
  check_absent<K>(key, valid);

  const auto count_before = *fuzz::call("count", {}, [] { return K::store().count(); });
  const auto revision_before = registry().revision();
  auto created = fuzz::call("create", {errc::invalid_argument},
                            [&] { return K::store().create(K::make(key)); });
  if (!created) {
    fuzz::check(!valid, who + "create() refused a valid key");
    fuzz::check(*fuzz::call("count", {}, [] { return K::store().count(); }) == count_before,
                who + "a refused create() changed the count");
    fuzz::check(registry().revision() == revision_before,
                who + "a refused create() took a revision");
    check_absent<K>(key, valid);
    return;
  }
  fuzz::check(valid, who + "create() accepted an invalid key");
  fuzz::check(K::key_of(*created) == key, who + "create() returned a different key");
  auto got = fuzz::call("get", {}, [&] { return K::store().get(key); });
  fuzz::check(K::key_of(*got) == key, who + "get() returned a different key");
  auto found = fuzz::call("find", {}, [&] { return K::store().find(key); });
  fuzz::check(found->has_value() && K::key_of(**found) == key, who + "find() did not find it");
  const auto all = keys_after<K>("", true);
  fuzz::check(std::count(all.begin(), all.end(), key) == 1, who + "list() does not hold it once");
  const auto after = keys_after<K>(key, true);
  fuzz::check(std::find(after.begin(), after.end(), key) == after.end(),
              who + "list(after = key) holds the key itself");
  auto events = fuzz::call("changes", {}, [&] { return registry().changes(created->revision); });
  fuzz::check(!events->empty() && events->front().id == key,
              who + "the change event names another key");
  fuzz::check(*fuzz::call("count", {}, [] { return K::store().count(); }) == count_before + 1,
              who + "count() did not go up by one");

  auto removed = fuzz::call("remove", {}, [&] { return K::store().remove(key); });
  fuzz::check(*removed, who + "remove() of a stored key returned false");
  check_absent<K>(key, valid);
}

// The bytes as a reference inside another record: accepted exactly when
// valid, and then stored byte for byte and found by the queries on it.
void run_app_reference(const std::string& ref, bool as_pool) {
  const bool valid = valid_key(ref);
  const std::string who = "app reference \"" + fuzz::shown(ref) + "\": ";
  cairn::App app{.id = "ref-app"};
  (as_pool ? app.pools : app.triggers) = {ref};
  auto put =
      fuzz::call("put", {errc::invalid_argument}, [&] { return registry().apps().put(app); });
  fuzz::check(put.has_value() == valid, who + (valid ? "refused" : "accepted"));
  auto in_pool = fuzz::call("in_pool", {errc::invalid_argument},
                            [&] { return registry().apps().in_pool(ref); });
  auto counted = fuzz::call("count(pool)", {errc::invalid_argument},
                            [&] { return registry().apps().count(cairn::AppQuery{.pool = ref}); });
  if (valid) fuzz::check(in_pool && counted, who + "a query by a valid pool name threw");
  if (put) {
    auto got = fuzz::call("get", {}, [&] { return registry().apps().get("ref-app"); });
    fuzz::check((as_pool ? got->pools : got->triggers) == std::vector<std::string>{ref},
                who + "not stored byte for byte");
    const bool member = as_pool && in_pool->size() == 1 && in_pool->front().id == "ref-app";
    fuzz::check(!as_pool || (member && *counted == 1), who + "in_pool()/count() miss the app");
    fuzz::call("remove", {}, [&] { return registry().apps().remove("ref-app"); });
  }
  if (in_pool && !put) fuzz::check(in_pool->empty(), who + "in_pool() found an app not stored");
}

void run_pool_reference(const std::string& ref, unsigned where) {
  const bool valid = valid_key(ref) || (where > 0 && ref == "*");
  const std::string who = "pool reference \"" + fuzz::shown(ref) + "\": ";
  cairn::Pool pool{.name = "ref-pool"};
  if (where == 0) pool.owners = {ref};
  if (where == 1) pool.policies.read = {ref};
  if (where == 2) pool.policies.write = {ref};
  auto put =
      fuzz::call("put", {errc::invalid_argument}, [&] { return registry().pools().put(pool); });
  fuzz::check(put.has_value() == valid, who + (valid ? "refused" : "accepted"));
  if (!put) return;
  auto got = fuzz::call("get", {}, [&] { return registry().pools().get("ref-pool"); });
  const auto& stored = where == 0   ? got->owners
                       : where == 1 ? got->policies.read
                                    : got->policies.write;
  fuzz::check(stored == std::vector<std::string>{ref}, who + "not stored byte for byte");
  fuzz::call("remove", {}, [&] { return registry().pools().remove("ref-pool"); });
}

void run_block_pool(const std::string& ref) {
  const bool valid = valid_key(ref);
  const std::string who = "block pool \"" + fuzz::shown(ref) + "\": ";
  // A block naming a pool that does not exist: constraint when the name is
  // valid, invalid_argument when not.
  const bool pool_exists = ref == "p";
  auto put = fuzz::call("put", {errc::invalid_argument, errc::constraint}, [&] {
    return registry().blocks().put(cairn::MemoryBlock{.id = "ref-block", .pool = ref});
  });
  fuzz::check(put.has_value() == (valid && pool_exists), who + "unexpected outcome of put");
  auto listed = fuzz::call("list(pool)", {errc::invalid_argument}, [&] {
    return registry().blocks().list(cairn::MemoryBlockQuery{.pool = ref});
  });
  if (valid) fuzz::check(listed.has_value(), who + "list by a valid pool name threw");
  if (listed && !pool_exists) fuzz::check(listed->empty(), who + "blocks listed in a missing pool");
  if (put) fuzz::call("remove", {}, [&] { return registry().blocks().remove("ref-block"); });
  if (!valid || pool_exists) return;
  // With the pool there, the block is stored and found by its pool.
  fuzz::call("pool put", {}, [&] { return registry().pools().put(cairn::Pool{.name = ref}); });
  auto stored = fuzz::call("put", {}, [&] {
    return registry().blocks().put(cairn::MemoryBlock{.id = "ref-block", .pool = ref});
  });
  fuzz::check(stored->pool == ref, who + "the pool name was not stored byte for byte");
  auto in_pool = fuzz::call("list(pool)", {}, [&] {
    return registry().blocks().list(cairn::MemoryBlockQuery{.pool = ref});
  });
  fuzz::check(in_pool->size() == 1 && in_pool->front().id == "ref-block",
              who + "list(pool) misses it");
  auto removed =
      fuzz::call("remove pool", {errc::constraint}, [&] { return registry().pools().remove(ref); });
  fuzz::check(!removed, who + "a pool with a block was removed without cascade");
  fuzz::call("remove pool", {},
             [&] { return registry().pools().remove(ref, {}, cairn::Cascade::yes); });
  auto gone = fuzz::call("find", {}, [&] { return registry().blocks().find("ref-block"); });
  fuzz::check(!gone->has_value(), who + "the cascade left the block");
}

// The bytes as a free-text field (a block's display name, a pool's
// description, an app's protocol_version): accepted exactly when they are
// valid UTF-8 within the field's size limit, then stored byte for byte.
void run_text(const std::string& text, unsigned which) {
  static constexpr std::size_t kLimits[] = {256, 4096, 64};
  which %= 3;
  const bool valid = valid_utf8(text) && text.size() <= kLimits[which];
  const std::string who = "text field " + std::to_string(which) + " \"" + fuzz::shown(text) +
                          "\" (valid: " + (valid ? "yes" : "no") + "): ";
  std::optional<std::string> stored;
  if (which == 0) {
    auto r = fuzz::call("put", {errc::invalid_argument}, [&] {
      return registry().blocks().put(cairn::MemoryBlock{.id = "text", .name = text, .pool = "p"});
    });
    if (r) stored = fuzz::call("get", {}, [&] { return registry().blocks().get("text"); })->name;
    if (r) fuzz::call("remove", {}, [&] { return registry().blocks().remove("text"); });
  } else if (which == 1) {
    auto r = fuzz::call("put", {errc::invalid_argument}, [&] {
      return registry().pools().put(cairn::Pool{.name = "text", .description = text});
    });
    if (r)
      stored = fuzz::call("get", {}, [&] { return registry().pools().get("text"); })->description;
    if (r) fuzz::call("remove", {}, [&] { return registry().pools().remove("text"); });
  } else {
    auto r = fuzz::call("put", {errc::invalid_argument}, [&] {
      return registry().apps().put(cairn::App{.id = "text", .protocol_version = text});
    });
    if (r) {
      stored =
          fuzz::call("get", {}, [&] { return registry().apps().get("text"); })->protocol_version;
    }
    if (r) fuzz::call("remove", {}, [&] { return registry().apps().remove("text"); });
  }
  fuzz::check(stored.has_value() == valid, who + (valid ? "refused" : "accepted"));
  if (stored) fuzz::check(*stored == text, who + "not stored byte for byte");
}

// A KV key as records.h documents it: 1-1024 bytes of UTF-8 without control
// characters (C0 and DEL).
bool valid_kv_key(std::string_view key) {
  if (key.empty() || key.size() > 1024 || !valid_utf8(key)) return false;
  return std::none_of(key.begin(), key.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

bool valid_info_hash(std::string_view h) {
  return (h.size() == 40 || h.size() == 64) && std::all_of(h.begin(), h.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// The bytes as a KV namespace (which 0) or key (which 1): accepted exactly
// when valid, then stored and listed byte for byte, and erased.
void run_kv(const std::string& bytes, unsigned which) {
  const bool as_ns = which == 0;
  const bool valid = as_ns ? valid_key(bytes) : valid_kv_key(bytes);
  const std::string ns = as_ns ? bytes : "n";
  const std::string key = as_ns ? "k" : bytes;
  const std::string who = std::string(as_ns ? "kv namespace" : "kv key") + " \"" +
                          fuzz::shown(bytes) + "\" (valid: " + (valid ? "yes" : "no") + "): ";
  auto put = fuzz::call("kv put", {errc::invalid_argument},
                        [&] { return registry().kv(ns).put(key, "value"); });
  fuzz::check(put.has_value() == valid, who + (valid ? "refused" : "accepted"));
  if (!put) {
    auto found = fuzz::call("kv find", {errc::invalid_argument},
                            [&] { return registry().kv(ns).find(key); });
    fuzz::check(!found || !found->has_value(), who + "find() found a refused entry");
    return;
  }
  fuzz::check(put->name_space == ns && put->key == key, who + "put() returned other names");
  auto got = fuzz::call("kv get", {}, [&] { return registry().kv(ns).get(key); });
  fuzz::check(got->key == key && got->value == "value", who + "get() differs");
  auto listed = fuzz::call("kv list(prefix)", {},
                           [&] { return registry().kv(ns).list(cairn::KvQuery{.prefix = key}); });
  fuzz::check(
      std::any_of(listed->begin(), listed->end(), [&](const auto& e) { return e.key == key; }),
      who + "list(prefix = key) misses it");
  auto events = fuzz::call("changes", {}, [&] { return registry().changes(put->revision); });
  fuzz::check(!events->empty() && events->front().id == ns + "/" + key,
              who + "the change event's id is not namespace/key");
  auto erased = fuzz::call("kv erase", {}, [&] { return registry().kv(ns).erase(key); });
  fuzz::check(*erased, who + "erase() of a stored entry returned false");
}

void run_torrent_hash(const std::string& hash) {
  const bool valid = valid_info_hash(hash);
  const std::string who =
      "info_hash \"" + fuzz::shown(hash) + "\" (valid: " + (valid ? "yes" : "no") + "): ";
  auto put = fuzz::call("torrent put", {errc::invalid_argument}, [&] {
    return registry().torrents().put(cairn::Torrent{.info_hash = hash});
  });
  fuzz::check(put.has_value() == valid, who + (valid ? "refused" : "accepted"));
  auto found = fuzz::call("torrent find", {errc::invalid_argument},
                          [&] { return registry().torrents().find(hash); });
  if (valid) fuzz::check(found.has_value(), who + "find() of a valid hash threw");
  fuzz::check(!found || found->has_value() == put.has_value(), who + "find() disagrees with put()");
  if (put) {
    fuzz::check(put->info_hash == hash, who + "stored under another hash");
    auto removed =
        fuzz::call("torrent remove", {}, [&] { return registry().torrents().remove(hash); });
    fuzz::check(*removed, who + "remove() returned false");
  }
}

// list(prefix = bytes) and erase_prefix(bytes) in a namespace of fixed keys
// (multibyte UTF-8 near U+10FFFF included, where a prefix's upper bound is
// easy to get wrong) match a plain filter of every key.
void run_kv_prefix(const std::string& prefix) {
  static const std::vector<std::string> kKeys = {"a",
                                                 "ab",
                                                 "abc",
                                                 "a~",
                                                 "b",
                                                 "a/\xc3\xa9",
                                                 "\xc3\xbf",
                                                 "\xc3\xbf\xc3\xbf",
                                                 "\xef\xbf\xbf",
                                                 "\xf4\x8f\xbf\xbf",
                                                 "\xf4\x8f\xbf\xbf\xf4\x8f\xbf\xbf",
                                                 "~",
                                                 "zz",
                                                 "a b",
                                                 "a%",
                                                 "a_",
                                                 "A"};
  cairn::KvStore kv = registry().kv("prefixes");
  for (const auto& k : kKeys) {
    if (!kv.exists(k)) kv.put(k, k);
  }
  const bool valid = valid_utf8(prefix) && std::none_of(prefix.begin(), prefix.end(), [](char c) {
                       return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
                     });
  std::vector<std::string> expected;
  for (const auto& k : kKeys) {
    if (k.compare(0, prefix.size(), prefix) == 0) expected.push_back(k);
  }
  std::sort(expected.begin(), expected.end());
  const std::string who = "kv prefix \"" + fuzz::shown(prefix) + "\": ";

  auto listed = fuzz::call("kv list(prefix)", {errc::invalid_argument},
                           [&] { return kv.list(cairn::KvQuery{.prefix = prefix}); });
  if (valid) fuzz::check(listed.has_value(), who + "list() of a valid prefix threw");
  if (!listed) return;
  std::vector<std::string> got;
  for (const auto& e : *listed) got.push_back(e.key);
  fuzz::check(got == expected, who + "list(prefix) returned " + std::to_string(got.size()) +
                                   " keys, a filter finds " + std::to_string(expected.size()));
  if (expected.size() > 1) {  // paging inside the prefix
    auto page = fuzz::call("kv list(prefix, after)", {}, [&] {
      return kv.list(cairn::KvQuery{.prefix = prefix, .after = expected[0], .limit = 1});
    });
    fuzz::check(page->size() == 1 && page->front().key == expected[1], who + "paging skips a key");
  }
  auto erased = fuzz::call("kv erase_prefix", {errc::invalid_argument},
                           [&] { return kv.erase_prefix(prefix); });
  if (!erased) return;
  fuzz::check(*erased == expected.size(), who + "erase_prefix() removed " +
                                              std::to_string(*erased) + ", a filter finds " +
                                              std::to_string(expected.size()));
  for (const auto& k : kKeys) {
    const bool under = k.compare(0, prefix.size(), prefix) == 0;
    auto there = fuzz::call("kv exists", {}, [&] { return kv.exists(k); });
    fuzz::check(*there != under, who + "erase_prefix() left or took \"" + fuzz::shown(k) + "\"");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const unsigned selector = data[0] % 8;
  const std::string key(reinterpret_cast<const char*>(data) + 1, size - 1);
  ensure_pool_p();
  static unsigned runs = 0;
  if (++runs % 1000 == 0) {
    fuzz::call("compact_change_log", {}, [] { return registry().compact_change_log(); });
  }
  if (data[0] >= 0xc0) {
    switch (data[0] % 4) {
      case 0:
        run_kv(key, 0);
        break;
      case 1:
        run_kv(key, 1);
        break;
      case 2:
        run_torrent_hash(key);
        break;
      default:
        run_kv_prefix(key);
        break;
    }
    return 0;
  }
  switch (data[0] >= 0x80 ? 8 : selector) {
    case 0:
      run_key<Apps>(key);
      break;
    case 1:
      run_key<Pools>(key);
      break;
    case 2:
      run_key<Blocks>(key);
      break;
    case 3:
      run_key<Configs>(key);
      break;
    case 4:
      run_app_reference(key, /*as_pool=*/true);
      break;
    case 5:
      run_app_reference(key, /*as_pool=*/false);
      break;
    case 6:
      run_pool_reference(key, (data[0] >> 3) % 3);
      break;
    case 7:
      run_block_pool(key);
      break;
    default:
      run_text(key, data[0]);
      break;
  }
  return 0;
}
