#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

The corpora are committed; this script documents how they were made and
regenerates them (python3 tests/fuzz/make_corpus.py). Each file is one input
in the target's layout (see the comment at the top of each fuzz_*.cpp):
byte 0 selects the kind and the action, the rest is the payload.
"""
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# fuzz_records: selector byte = kind (b % 4) + 4 * mode ((b >> 2) % 4).
# kind: 0 app, 1 pool, 2 memory_block, 3 config; mode: 0 put, 1 put twice,
# 2 create then remove, 3 put then remove. As ASCII digits '0'..'3' select
# the kinds with mode 0, '4'..'7' with mode 1; 'h'..'k' = 0x68.. mode 2.
# From 0x80, b % 4: 0 torrent, 1 kv entry, 2 and 3 torrent session.
APP, POOL, BLOCK, CONFIG = 0, 1, 2, 3
TORRENT, KV, SESSION = 4, 5, 6


def sel(kind, mode=0):
    if kind >= 4:
        return bytes([0x80 + (kind - 4) + 4 * mode])
    return bytes([0x30 + kind + 4 * mode]) if mode < 2 else bytes([0x60 + kind + 4 * mode])


def deep(n, leaf="1"):
    return "[" * n + leaf + "]" * n


def deep_object(n):
    # {"k":{"k":...1...}}: n levels of objects.
    return '{"k":' * n + "1" + "}" * n


def records_corpus():
    out = {}

    def add(name, kind, payload, mode=0):
        data = payload if isinstance(payload, bytes) else payload.encode()
        out[name] = sel(kind, mode) + data

    full_app = {
        "id": "server-1", "pools": ["p", "cache", "gpu:0"], "triggers": ["on.start", "reload"],
        "meta": {"host": "10.0.0.1", "port": 8080, "tags": ["a", "b"], "nested": {"x": [1, 2.5]}},
        "protocol_version": "1.2.3", "registered": 5, "last_seen": 0, "rehydrated": True,
        "created_at": 1, "updated_at": 2, "revision": 3,
    }
    full_pool = {
        "name": "pool-A", "type": "encrypted", "encrypted": False, "owners": ["server-1"],
        "policies": {"read": ["*"], "write": ["server-1", "admin@host"]},
        "description": "a pool", "config": {"ttl": 60, "replicas": 3},
    }
    full_block = {
        "id": "blk/1", "name": "weights", "pool": "p", "size": 1 << 50, "type": "json",
        "permissions": {"server-1": ["read", "write"]}, "version": 9, "persistent": True,
        "encrypted": True, "config": {"compress": False},
    }
    full_config = {"key": "backupInterval", "value": {"ms": 60000, "max": 5}}

    for mode in range(4):
        add(f"app_full_m{mode}", APP, json.dumps(full_app), mode)
        add(f"pool_full_m{mode}", POOL, json.dumps(full_pool), mode)
        add(f"block_full_m{mode}", BLOCK, json.dumps(full_block), mode)
        add(f"config_full_m{mode}", CONFIG, json.dumps(full_config), mode)
    add("app_min", APP, '{"id":"a"}')
    add("pool_min_global", POOL, '{"name":"g","type":"global"}')
    add("block_min_stream", BLOCK, '{"id":"b","pool":"pool","type":"stream"}')
    add("block_missing_pool", BLOCK, '{"id":"b","pool":"nowhere"}')
    for i, value in enumerate(['null', 'true', '0', '-1', '1.5e300', '"text"', '[1,"a",null]',
                               '18446744073709551615', '-9223372036854775808', '-0.0',
                               '"\\u0000\\ud83d\\ude00\\"\\\\"']):
        add(f"config_value_{i}", CONFIG, '{"key":"k%d","value":%s}' % (i, value))

    # Depth: the limit is 32 levels (Options::max_json_depth), counting the
    # field's own object. At the limit, one beyond, and far beyond.
    add("depth_meta_32", APP, '{"id":"d","meta":%s}' % deep_object(32))
    add("depth_meta_33", APP, '{"id":"d","meta":%s}' % deep_object(33))
    add("depth_array_32", CONFIG, '{"key":"d","value":%s}' % deep(32))
    add("depth_array_33", CONFIG, '{"key":"d","value":%s}' % deep(33))
    add("depth_1000", POOL, '{"name":"d","config":{"a":%s}}' % deep(1000))
    add("depth_unclosed", APP, '{"id":"d","meta":{"a":' + "[" * 2000)

    # Sizes: description 4 KiB (limit) and one more; a meta of exactly
    # max_json_bytes (the target lowers it to 4 KiB) and one byte more.
    add("pool_description_4096", POOL, json.dumps({"name": "s", "description": "d" * 4096}))
    add("pool_description_4097", POOL, json.dumps({"name": "s", "description": "d" * 4097}))
    add("app_protocol_65", APP, json.dumps({"id": "s", "protocol_version": "v" * 65}))
    add("block_name_257", BLOCK, json.dumps({"id": "s", "pool": "p", "name": "n" * 257}))
    big = 4096 - len('{"s":""}')
    add("app_meta_4k", APP, json.dumps({"id": "s", "meta": {"s": "x" * big}}))
    add("app_meta_4k_plus_1", APP, json.dumps({"id": "s", "meta": {"s": "x" * (big + 1)}}))

    # Text: bad UTF-8 (the JSON parser refuses it), escapes, non-ASCII.
    add("bad_utf8_raw", APP, b'{"id":"u","meta":{"s":"\xff\xfe\xc0\x80"}}')
    add("utf8_escapes", POOL, '{"name":"u","description":"\\u00e9\\u4e2d\\ud83d\\ude00\\t\\n"}')
    add("lone_surrogate", POOL, '{"name":"u","description":"\\ud800"}')
    add("nul_in_description", POOL, '{"name":"u","description":"a\\u0000b"}')

    # Odd keys inside otherwise valid records.
    for i, key in enumerate(["a;--", 'x"y', "é", "." + "a", "/a", "", "k" * 128, "k" * 129,
                             "a b", "a\u0000b", "DROP TABLE apps;--"]):
        add(f"odd_key_{i}", i % 4, json.dumps({("id", "name", "id", "key")[i % 4]: key,
                                               "pool": "p"} if i % 4 == 2 else
                                              {("id", "name", "id", "key")[i % 4]: key}))
    add("dup_pools", APP, '{"id":"a","pools":["p","p"]}')
    add("star_owner", POOL, '{"name":"a","owners":["*"]}')

    # Wrong types, ranges and shapes.
    add("size_string", BLOCK, '{"id":"b","pool":"p","size":"5"}')
    add("size_float", BLOCK, '{"id":"b","pool":"p","size":1.5}')
    add("size_u64", BLOCK, '{"id":"b","pool":"p","size":18446744073709551615}')
    add("size_negative", BLOCK, '{"id":"b","pool":"p","size":-1}')
    add("size_2p50_plus_1", BLOCK, '{"id":"b","pool":"p","size":1125899906842625}')
    add("type_unknown", POOL, '{"name":"b","type":"weird"}')
    add("unknown_field", APP, '{"id":"a","colour":"red"}')
    add("policies_extra", POOL, '{"name":"a","policies":{"read":[],"delete":[]}}')
    add("policies_array", POOL, '{"name":"a","policies":[]}')
    add("meta_array", APP, '{"id":"a","meta":[1,2]}')
    add("meta_null", APP, '{"id":"a","meta":null}')
    add("registered_negative", APP, '{"id":"a","registered":-5}')
    add("pools_not_strings", APP, '{"id":"a","pools":[1]}')
    add("not_an_object", CONFIG, '[{"key":"a"}]')

    # Torrents, KV entries, the torrent session.
    v1 = "0123456789abcdef0123456789abcdef01234567"
    v2 = "0123456789abcdef" * 4
    torrent = {
        "info_hash": v1, "name": "ubuntu.iso", "state": "started", "save_path": "/data/dl",
        "total_size": 1 << 30, "downloaded": 1 << 20, "uploaded": 5,
        "pieces_base64": "/w8A", "trackers": [["udp://a:1/announce"], ["http://b/announce"]],
        "file_priorities": [0, 4, 7],
        "limits": {"download_rate": 0, "upload_rate": 100, "max_connections": 50,
                   "max_uploads": 4},
        "flags": {"paused": False, "auto_managed": True, "sequential_download": True,
                  "seed_mode": False, "super_seeding": False, "upload_mode": False,
                  "share_mode": False},
        "added_at": 0, "completed_at": 0, "last_activity": 7,
        "metainfo_base64": "ZDg6YW5ub3VuY2U=", "extra": {"label": "linux"},
    }
    for mode in range(4):
        add(f"torrent_full_m{mode}", TORRENT, json.dumps(torrent), mode)
        add(f"kv_m{mode}", KV, json.dumps({"namespace": "lampo", "key": "peer/1",
                                           "value_base64": "aGVsbG8="}), mode)
        add(f"session_m{mode}", SESSION, json.dumps({"download_dir": "/dl", "peer_port": 6881,
                                                     "ratio_limit": 1.5, "unknown_key": [1]}),
            mode)
    add("torrent_v2", TORRENT, json.dumps({"info_hash": v2, "state": "completed"}))
    add("torrent_upper", TORRENT, json.dumps({"info_hash": v1.upper()}))
    add("torrent_removed", TORRENT, json.dumps({"info_hash": v1, "state": "removed"}), 2)
    add("torrent_bad_base64", TORRENT, json.dumps({"info_hash": v1, "pieces_base64": "/w8=A"}))
    add("torrent_base64_noncanonical", TORRENT,
        json.dumps({"info_hash": v1, "pieces_base64": "/w9="}))
    add("torrent_priority_8", TORRENT, json.dumps({"info_hash": v1, "file_priorities": [8]}))
    add("torrent_nul_path", TORRENT, json.dumps({"info_hash": v1, "save_path": "a\u0000b"}))
    add("kv_empty_value", KV, '{"namespace":"n","key":"k","value_base64":""}')
    add("kv_utf8_key", KV, json.dumps({"namespace": "n", "key": "clé/😀", "value_base64": "AA=="}))
    add("kv_control_key", KV, '{"namespace":"n","key":"a\u0001b","value_base64":"AA=="}')
    add("kv_bad_namespace", KV, '{"namespace":".n","key":"k","value_base64":"AA=="}')
    add("kv_key_1024", KV, json.dumps({"namespace": "n", "key": "k" * 1024, "value_base64": ""}))
    add("kv_key_1025", KV, json.dumps({"namespace": "n", "key": "k" * 1025, "value_base64": ""}))
    add("kv_ttl", KV, '{"namespace":"n","key":"t","value_base64":"","expires_at":5}')
    add("session_port_0", SESSION, '{"peer_port":0}')
    add("session_port_65536", SESSION, '{"peer_port":65536}')
    add("session_encryption_3", SESSION, '{"encryption":3}')
    add("session_ratio_negative", SESSION, '{"ratio_limit":-0.5}')
    add("session_wrong_type", SESSION, '{"dht_enabled":"yes"}')
    add("dup_json_keys", CONFIG, '{"key":"a","key":"b","value":1}')
    return out


# fuzz_ids: selector byte b % 8 = where the bytes go: 0 app id, 1 pool name,
# 2 block id, 3 config key, 4 app pools[], 5 app triggers[], 6 pool owners /
# policies.read / policies.write ((b >> 3) % 3), 7 block pool.
def ids_corpus():
    keys = {
        "valid": b"server-1",
        "all_classes": b"Az09._:@/-",
        "empty": b"",
        "len128": b"k" * 128,
        "len129": b"k" * 129,
        "dot_first": b".hidden",
        "slash_first": b"/root",
        "nul": b"a\x00b",
        "quote": b'x"y\'z',
        "sql": b"a';DROP TABLE apps;--",
        "dashes": b"a--b",
        "semicolon": b"a;b",
        "bad_utf8": b"\xff\xfe\xc0\x80",
        "utf8": "é中😀".encode(),
        "star": b"*",
        "percent_like": b"a%_b",
        "backslash": b"a\\b",
        "newline": b"a\nb",
        "big_10k": b"x" * 10240,
        "big_10k_invalid": b"\xff" * 10240,
    }
    out = {}
    for sel_byte, where in [(0x30, "app"), (0x31, "pool"), (0x32, "block"), (0x33, "config"),
                            (0x34, "app_pools"), (0x35, "app_triggers"), (0x36, "pool_owners"),
                            (0x3e, "pool_read"), (0x46, "pool_write"), (0x37, "block_pool")]:
        for name, key in keys.items():
            if name.startswith("big") and where not in ("app", "block_pool"):
                continue
            out[f"{where}_{name}"] = bytes([sel_byte]) + key
    out["block_pool_p"] = b"7p"

    # Free-text fields: selector 0x80 + (block name, pool description, app
    # protocol_version); valid and invalid UTF-8, at and beyond the limits.
    texts = {
        "ascii": b"weights v2",
        "nul": b"a\x00b",
        "utf8_2_3_4": "é中😀".encode(),
        "max_code_point": b"\xf4\x8f\xbf\xbf",
        "past_max": b"\xf4\x90\x80\x80",
        "surrogate": b"\xed\xa0\x80",
        "overlong_2": b"\xc0\xaf",
        "overlong_3": b"\xe0\x80\xaf",
        "truncated": b"ab\xe4\xb8",
        "lone_continuation": b"\x80",
        "f5": b"\xf5\x80\x80\x80",
    }
    for which, (name, limit) in enumerate([("block_name", 256), ("pool_description", 4096),
                                           ("app_protocol", 64)]):
        selector = bytes([0x80 + (3 - 0x80 % 3 + which) % 3])
        for tname, text in texts.items():
            out[f"text_{name}_{tname}"] = selector + text
        out[f"text_{name}_at_limit"] = selector + b"x" * (limit - 2) + "é".encode()
        out[f"text_{name}_beyond"] = selector + b"x" * (limit - 1) + "é".encode()

    # 0xc0 + (KV namespace, KV key, torrent info_hash, KV prefix).
    kv_keys = dict(keys)
    kv_keys.update({"del": b"a\x7fb", "tab": b"a\tb", "c1": "a\u0085b".encode(),
                    "len1024": b"k" * 1024, "len1025": b"k" * 1025})
    for name, key in kv_keys.items():
        if name.startswith("big"):
            continue
        out[f"kv_namespace_{name}"] = b"\xc0" + key
        out[f"kv_key_{name}"] = b"\xc1" + key
    hexes = {"v1": b"0123456789abcdef0123456789abcdef01234567", "v2": b"0123456789abcdef" * 4,
             "upper": b"0123456789ABCDEF0123456789abcdef01234567", "short": b"0123456789abcdef",
             "v1_plus_1": b"0123456789abcdef0123456789abcdef012345678", "nonhex": b"g" * 40,
             "nul": b"\x00" * 40}
    for name, h in hexes.items():
        out[f"torrent_hash_{name}"] = b"\xc2" + h
    for name, prefix in {"empty": b"", "a": b"a", "ab": b"ab", "c3": b"\xc3", "c3bf": b"\xc3\xbf",
                         "f4": b"\xf4\x8f\xbf", "f4_full": b"\xf4\x8f\xbf\xbf", "ff": b"\xff",
                         "tilde": b"~", "percent": b"a%", "underscore": b"a_", "nul": b"\x00",
                         "upper": b"A"}.items():
        out[f"kv_prefix_{name}"] = b"\xc3" + prefix
    return out


# fuzz_import: the bytes are the import stream itself (JSON Lines: a header,
# then {"kind": ..., "record": ...} per line).
def import_corpus():
    header = '{"format":"cairn-export","version":1}'

    def line(kind, record):
        return json.dumps({"kind": kind, "record": record}, separators=(",", ":"))

    v1 = "0123456789abcdef0123456789abcdef01234567"
    pool = line("pool", {"name": "imported", "type": "global", "owners": ["app-9"],
                         "policies": {"read": ["*"], "write": []}, "description": "d",
                         "config": {"a": 1}, "created_at": 10, "updated_at": 11})
    app = line("app", {"id": "app-9", "pools": ["imported", "p"], "meta": {"k": [1, 2]},
                       "registered": 3, "last_seen": 4, "created_at": 3, "updated_at": 4})
    block = line("memory_block", {"id": "blk-9", "pool": "imported", "size": 10, "type": "json",
                                  "version": 7, "created_at": 5, "updated_at": 6})
    block_in_p = line("memory_block", {"id": "blk-p", "pool": "p", "version": 2})
    config = line("config", {"key": "imported.key", "value": [1, "two", None]})
    torrent = line("torrent", {"info_hash": v1, "state": "stopped", "pieces_base64": "/w8A",
                               "trackers": [["udp://a:1/announce"]]})
    session = line("torrent_session", {"peer_port": 6881, "custom": {"x": 1}})
    kv = line("kv", {"namespace": "lampo", "key": "peer/1", "value_base64": "aGVsbG8=",
                     "version": 3})
    every = [config, pool, app, block, session, torrent, kv]
    out = {
        "empty": "",
        "header_only": header + "\n",
        "header_no_newline": header,
        "every_kind": "\n".join([header] + every) + "\n",
        "every_kind_crlf": "\r\n".join([header] + every) + "\r\n",
        "block_in_existing_pool": "\n".join([header, block_in_p]) + "\n",
        "block_before_its_pool": "\n".join([header, block, pool]) + "\n",
        "replace_fixture_pool": "\n".join([header, line("pool", {"name": "p"})]) + "\n",
        "duplicate_record": "\n".join([header, config, config]) + "\n",
        "bad_third_line": "\n".join([header, config, pool, line("app", {"id": ".bad"})]) + "\n",
        "unknown_kind": "\n".join([header, line("widget", {"id": "w"})]) + "\n",
        "unknown_field": "\n".join([header, line("app", {"id": "a", "colour": 1})]) + "\n",
        "blank_line": "\n".join([header, config, "", pool]) + "\n",
        "header_v2": '{"format":"cairn-export","version":2}\n' + config + "\n",
        "header_reordered": '{"version":1,"format":"cairn-export"}\n' + config + "\n",
        "no_header": config + "\n",
        "extra_member": header + "\n" + '{"kind":"config","record":{"key":"k"},"x":1}\n',
        "record_not_object": header + "\n" + '{"kind":"config","record":[1]}\n',
        "depth_36": header + "\n" + line("config", {"key": "d", "value": json.loads(
            "[" * 34 + "]" * 34)}) + "\n",
        "depth_37": header + "\n" + line("config", {"key": "d", "value": json.loads(
            "[" * 35 + "]" * 35)}) + "\n",
        "deep_20k": header + "\n" + '{"kind":"config","record":{"key":"d","value":' +
                     "[" * 20000 + "]" * 20000 + "}}\n",
        "deep_header": '{"format":' + "[" * 20000 + "]" * 20000 + ',"version":1}\n',
        "brackets_in_strings": header + "\n" + line("config", {"key": "s", "value": "[[[{{{\\\"]]"}) + "\n",
        "kv_bad_base64": header + "\n" + line("kv", {"namespace": "n", "key": "k",
                                                       "value_base64": "a=b="}) + "\n",
        "torrent_removed_state": header + "\n" + line("torrent", {"info_hash": v1,
                                                                   "state": "removed"}) + "\n",
        "nul_byte": header + "\n" + '{"kind":"config","record":{"key":"k","value":"a\u0000"}}\n\x00',
    }
    return {name: text.encode("utf-8", "surrogatepass") for name, text in out.items()}


# fuzz_backup_paths: the bytes are a file name ('/' and NUL are removed, the
# rest cut to 64 bytes). Names SQLite would read as URI syntax or as special
# names if a path ever reached it as a URI, and names of every kind of byte.
def backup_paths_corpus():
    names = {
        "plain": b"registry",
        "plain_db": b"registry.db",
        "query": b"q?x",
        "query_db": b"x.db?mode=ro",
        "query_immutable": b"x.db?immutable=1",
        "query_vfs": b"x?vfs=unix-none",
        "query_two": b"x?cache=shared&mode=rwc",
        "fragment": b"a#frag",
        "fragment_db": b"x.db#",
        "percent": b"pct%",
        "percent_41": b"pct%41",
        "percent_41_db": b"%41.db",
        "percent_2f": b"a%2Fb",
        "percent_00": b"a%00b.db",
        "percent_3f": b"%3F.db",
        "amp_eq": b"a&b=c",
        "eq": b"a=b.db",
        "space": b"with space",
        "space_edges": b" lead and trail .db ",
        "newline": b"new\nline",
        "tab_cr": b"tab\tcr\r.db",
        "file_prefix": b"file:x.db",
        "file_uri": b"file:x?mode=memory",
        "file_authority": b"file:%2F%2Fhost.db",
        "memory": b":memory:",
        "dash": b"-dash",
        "dash_only": b"-",
        "dashes_db": b"--x.db",
        "utf8_e_acute": "\u00e9t\u00e9.db".encode(),
        "utf8_cjk": "\u540d\u524d".encode(),
        "utf8_emoji": "\U0001f600.db".encode(),
        "bad_utf8": b"\xff\xfe.db",
        "overlong_nul": b"\xc0\x80x",
        "surrogate": b"\xed\xa0\x80.db",
        "truncated_utf8": b"x\xe2\x82",
        "wal_like": b"x.db-wal",
        "journal_like": b"x.db-journal",
        "manifest_like": b"a.db.manifest.json",
        "previous_like": b"x.db.previous",
        "hidden": b".hidden.db",
        "dot_db": b".db",
        "dots": b"...",
        "slash_removed": b"a/b?c.db",
        "nul_removed": b"a\x00b#.db",
        "long_64": b"?#%&=" * 12 + b"x.db",
        "long_80": b"%41?" * 20,
        "control": bytes(range(1, 32)),
        "high": bytes(range(0x80, 0xa0)),
    }
    return names


# fuzz_backup_schema: up to four edits, each a kind byte (b % 11) and one
# byte per part, indexing the vocabulary of fuzz_backup_schema.cpp (which
# names each list and its order). Comments give the SQL each seed makes.
def backup_schema_corpus():
    seeds = {
        # CREATE TRIGGER extra AFTER INSERT ON apps BEGIN DELETE FROM apps; END
        "trigger_on_apps": [0, 0, 1, 0, 3, 1],
        # the same trigger named sqlitex
        "trigger_named_sqlitex": [0, 3, 1, 0, 3, 1],
        # CREATE TRIGGER temp.ghost BEFORE INSERT ON apps ...: not in the file
        "trigger_temp": [0, 13, 0, 0, 3, 0],
        # CREATE TRIGGER "odd name" BEFORE UPDATE OF id ON apps BEGIN RAISE
        "trigger_quoted_raise": [0, 6, 0, 3, 3, 4],
        # CREATE VIEW extra AS SELECT * FROM apps
        "view": [1, 0, 1],
        # CREATE VIEW sqlite1 AS SELECT * FROM apps
        "view_named_sqlite1": [1, 4, 1],
        # CREATE INDEX extra ON apps (id)
        "index_new": [2, 0, 0, 0, 0],
        # CREATE UNIQUE INDEX SQLiteQ ON apps (meta) WHERE 0
        "index_unique_partial": [2, 1, 5, 1, 1],
        # DROP INDEX app_pools_by_app
        "drop_cairn_index": [4, 0],
        # DROP INDEX pools_by_type; CREATE INDEX pools_by_type ON pools (type, name)
        "drop_and_recreate_index": [4, 1, 3, 0, 1, 4],
        # DROP INDEX pools_by_type; CREATE INDEX pools_by_type ON apps (id)
        "recreate_index_elsewhere": [4, 1, 3, 0, 1, 0],
        # ALTER TABLE apps ADD COLUMN extra TEXT
        "add_column": [5, 3, 0, 0],
        # ALTER TABLE kv_entries ADD COLUMN sqlitex TEXT NOT NULL DEFAULT ''
        "add_column_default": [5, 11, 3, 5],
        # CREATE TABLE extra (x TEXT)
        "table_new": [6, 0, 1, 0],
        # CREATE TABLE "odd name" ("a""b" TEXT)
        "table_quoted": [6, 6, 7, 0],
        # CREATE TABLE "" (x INTEGER PRIMARY KEY AUTOINCREMENT)
        "table_empty_name_autoincrement": [6, 10, 1, 7],
        # CREATE TABLE temp.ghost (x TEXT): not in the file
        "table_temp": [6, 13, 1, 0],
        # CREATE TABLE sqlite_x (x TEXT): refused by SQLite, skipped
        "table_reserved": [6, 11, 1, 0],
        # CREATE TABLE extra (x TEXT); DROP TABLE extra: as it was
        "table_create_drop": [6, 0, 1, 0, 7, 0, 0],
        # DROP TABLE subscriptions
        "drop_cairn_table": [7, 0, 25],
        # ALTER TABLE apps RENAME COLUMN meta TO extra
        "rename_column": [8, 1, 0],
        # ALTER TABLE subscriptions RENAME TO extra
        "rename_table": [9, 8, 0],
        # ALTER TABLE apps DROP COLUMN last_seen
        "drop_column": [10, 2],
        # four at once: a table, a trigger on it, a view, an index
        "four_edits": [6, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 2, 1, 2, 0, 8, 0, 0],
    }
    return {name: bytes(data) for name, data in seeds.items()}


def write(target, files):
    d = os.path.join(HERE, "corpus", target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, data in sorted(files.items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print(f"{d}: {len(files)} files")


def main():
    write("fuzz_records", records_corpus())
    write("fuzz_ids", ids_corpus())
    write("fuzz_import", import_corpus())
    write("fuzz_backup_paths", backup_paths_corpus())
    write("fuzz_backup_schema", backup_schema_corpus())

    # Reproducers of library bugs the fuzzers found (see README.md).
    reg = os.path.join(HERE, "regressions", "fuzz_records")
    os.makedirs(reg, exist_ok=True)
    with open(os.path.join(reg, "from_json_deep_meta_stack_overflow"), "wb") as f:
        f.write(sel(APP) + ('{"id":"deep","meta":{"a":%s}}' % deep(100000, "")).encode())
    reproducers = {
        # Registry::backup to a name that is not UTF-8: the manifest's dump()
        # throws nlohmann's type_error 316 out of the library.
        ("fuzz_backup_paths", "backup_name_invalid_utf8_json_type_error"): b"x\xe2\x82",
        # CREATE TRIGGER sqlitex AFTER INSERT ON apps BEGIN DELETE FROM apps;
        # END: verify_backup accepts it (sqlite_master is read through
        # NOT LIKE 'sqlite_%', where '_' matches any byte, in any case).
        ("fuzz_backup_schema", "verify_accepts_trigger_named_sqlitex"): bytes([0, 3, 1, 0, 3, 1]),
    }
    for (target, name), data in reproducers.items():
        os.makedirs(os.path.join(HERE, "regressions", target), exist_ok=True)
        with open(os.path.join(HERE, "regressions", target, name), "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
