// Fuzz target: file names holding SQLite-URI metacharacters ('?', '#', '%',
// "%41", '&', '=', a leading "file:" or '-', blanks, newlines, non-ASCII and
// invalid UTF-8) through the whole backup cycle. The library hands SQLite a
// URI only for the backups it reads immutable, and builds it itself with
// every such byte percent-encoded (lib/db/connection.cpp); everywhere else a
// path is a plain name. This target checks that a name stays a name.
//
// Proves, for a registry at <dir>/<name>:
//   - it opens, takes a write, and backs up to <dir>/bk-old-<name> and then
//     to <dir>/bk-<name>, each with its manifest beside it;
//   - verify_backup accepts both and reports the size, SHA-256 and
//     last_revision that the backup call returned;
//   - flipping one byte of bk-<name> makes verify_backup throw
//     restore_refused, and putting it back makes it verify again: it checked
//     exactly the file it was given;
//   - restore(bk-<name>, <dir>/r-<name>) reports that last_revision, replaces
//     nothing, and the file at r-<name>, opened read-only, is that revision
//     and holds the app;
//   - prune_backups(<dir>, 1) removes bk-old-<name>, the older of the two,
//     when the name ends in ".db" (the extension prune looks for), and
//     nothing otherwise;
//   - afterwards <dir> holds exactly those files (the registry and the
//     restored file, each perhaps with its -wal and -shm, and the backups
//     with their manifests): no temp file left, no .previous or
//     .before-restore- copy, nothing at a name SQLite took from a URI.
// Any cairn::Error on the way, anything else escaping the library, or a
// crash is a finding.
//
// Input: the bytes are the name, with '/' and NUL removed, cut to 64 bytes;
// an empty name, "." and ".." are skipped. One scratch directory per process
// (fuzz_files.h), emptied before each input.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_common.h"
#include "fuzz_files.h"

namespace {

using cairn::errc;
namespace fs = std::filesystem;

constexpr std::size_t kMaxNameBytes = 64;
constexpr const char* kAppId = "app-1";

const fuzz::ScratchDir& scratch() {
  static const fuzz::ScratchDir dir("backup-paths");
  return dir;
}

std::string name_from(const std::uint8_t* data, std::size_t size) {
  std::string name;
  for (std::size_t i = 0; i < size && name.size() < kMaxNameBytes; ++i) {
    const char c = static_cast<char>(data[i]);
    if (c != '/' && c != '\0') name += c;
  }
  return name;
}

// synchronous=normal and one reader: this target is about names, not
// durability, and every input opens two registries.
cairn::Options registry_options() {
  cairn::Options options = fuzz::fuzz_options();
  options.synchronous = cairn::Synchronous::normal;
  options.read_connections = 1;
  return options;
}

// One input's files, and the message context naming it.
struct Files {
  std::string name;
  fs::path db, old_backup, backup, restored;

  explicit Files(const std::string& n)
      : name(n),
        db(scratch() / n),
        old_backup(scratch() / ("bk-old-" + n)),
        backup(scratch() / ("bk-" + n)),
        restored(scratch() / ("r-" + n)) {}

  std::string step(std::string_view what) const {
    return std::string(what) + " (name \"" + fuzz::shown(name) + "\")";
  }
};

template <class Fn>
auto must(const Files& files, std::string_view what, Fn&& fn) {
  return *fuzz::call(files.step(what).c_str(), {}, std::forward<Fn>(fn));
}

void check_verifies(const Files& files, const fs::path& backup, const cairn::BackupInfo& made) {
  const cairn::BackupInfo seen = must(files, "verify_backup of " + backup.filename().string(),
                                      [&] { return cairn::verify_backup(backup); });
  fuzz::check(seen.path == backup && seen.manifest == cairn::manifest_path(backup),
              files.step("verify_backup reports another file: " + seen.path.string()));
  fuzz::check(seen.size == made.size && seen.sha256 == made.sha256,
              files.step("verify_backup reports another size or SHA-256 than the backup made"));
  fuzz::check(
      seen.last_revision == made.last_revision,
      files.step("verify_backup reports last_revision " + std::to_string(seen.last_revision) +
                 ", the backup wrote " + std::to_string(made.last_revision)));
}

// One byte of the backup changed: refused, and accepted again once restored.
void check_flip_refused(const Files& files, const cairn::BackupInfo& made) {
  const std::string bytes = fuzz::read_bytes(files.backup);
  if (bytes.size() < 200)
    fuzz::harness_failure("a backup of " + std::to_string(bytes.size()) + " bytes");
  std::string flipped = bytes;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x01);
  fuzz::write_bytes(files.backup, flipped);
  try {
    cairn::verify_backup(files.backup);
    fuzz::finding(files.step("verify_backup accepted a backup with a byte flipped"));
  } catch (const cairn::Error& e) {
    fuzz::check(e.code_value() == errc::restore_refused,
                files.step(std::string("verify_backup of a flipped byte failed with ") +
                           cairn::to_string(e.code_value()) + ": " + e.what()));
  } catch (const std::exception& e) {
    fuzz::finding(files.step(std::string("verify_backup of a flipped byte threw a non-cairn "
                                         "exception: ") +
                             e.what()));
  }
  fuzz::write_bytes(files.backup, bytes);
  check_verifies(files, files.backup, made);
}

void check_restored(const Files& files, const cairn::BackupInfo& made) {
  const cairn::RestoreResult result =
      must(files, "restore", [&] { return cairn::restore(files.backup, files.restored); });
  fuzz::check(result.target == files.restored,
              files.step("restore reports target " + result.target.string()));
  fuzz::check(!result.replaced_kept_as.has_value(),
              files.step("restore to a new file kept a replaced one"));
  fuzz::check(result.last_revision == made.last_revision,
              files.step("restore reports last_revision " + std::to_string(result.last_revision) +
                         ", the manifest " + std::to_string(made.last_revision)));

  cairn::Options options = registry_options();
  options.read_only = true;
  options.create_if_missing = false;
  cairn::Registry copy = must(files, "open the restored file read-only",
                              [&] { return cairn::Registry::open(files.restored, options); });
  const auto app =
      must(files, "find the app in the restored file", [&] { return copy.apps().find(kAppId); });
  fuzz::check(app.has_value(), files.step("the restored file lacks the app"));
  fuzz::check(copy.revision() == made.last_revision,
              files.step("the restored file is at revision " + std::to_string(copy.revision()) +
                         ", the manifest says " + std::to_string(made.last_revision)));
}

void check_pruned(const Files& files) {
  const std::vector<fs::path> removed =
      must(files, "prune_backups", [&] { return cairn::prune_backups(scratch().path(), 1); });
  // Only names ending in ".db" are backups to prune; "bk-" in front keeps
  // the dot from being the name's first byte.
  const bool prunable = files.name.ends_with(".db");
  const std::vector<fs::path> expected =
      prunable ? std::vector<fs::path>{files.old_backup} : std::vector<fs::path>{};
  std::string got;
  for (const auto& path : removed) got += " " + fuzz::shown(path.filename().string());
  fuzz::check(removed == expected,
              files.step("prune_backups(dir, 1) removed [" + got + " ] from two backups"));
}

void check_entries(const Files& files) {
  const std::string& n = files.name;
  std::set<std::string> required = {n, "bk-" + n, "bk-" + n + ".manifest.json", "r-" + n};
  if (!n.ends_with(".db")) {
    required.insert({"bk-old-" + n, "bk-old-" + n + ".manifest.json"});
  }
  const std::set<std::string> optional = {n + "-wal", n + "-shm", "r-" + n + "-wal",
                                          "r-" + n + "-shm"};
  const std::set<std::string> present = fuzz::entry_names(scratch().path());
  for (const auto& name : required) {
    fuzz::check(present.contains(name), files.step("\"" + fuzz::shown(name) + "\" is missing"));
  }
  for (const auto& name : present) {
    fuzz::check(required.contains(name) || optional.contains(name),
                files.step("an unexpected file \"" + fuzz::shown(name) + "\" was left"));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string name = name_from(data, size);
  if (name.empty() || name == "." || name == "..") return 0;
  scratch().clear();
  const Files files(name);

  cairn::Registry reg = must(files, "open the registry",
                             [&] { return cairn::Registry::open(files.db, registry_options()); });
  const cairn::App app =
      must(files, "put the app", [&] { return reg.apps().put(cairn::App{.id = kAppId}); });
  const cairn::BackupInfo older =
      must(files, "backup to bk-old-", [&] { return reg.backup(files.old_backup); });
  const cairn::BackupInfo newer =
      must(files, "backup to bk-", [&] { return reg.backup(files.backup); });
  fuzz::check(newer.path == files.backup && newer.manifest == cairn::manifest_path(files.backup),
              files.step("backup reports another file: " + newer.path.string()));
  fuzz::check(newer.last_revision >= app.revision && newer.last_revision <= reg.revision(),
              files.step("the backup's last_revision " + std::to_string(newer.last_revision) +
                         " is not between the app's write and now"));
  fuzz::check(newer.created_at > older.created_at,
              files.step("the second backup is not newer than the first"));

  check_verifies(files, files.old_backup, older);
  check_verifies(files, files.backup, newer);
  check_flip_refused(files, newer);
  check_restored(files, newer);
  check_pruned(files);
  check_entries(files);
  return 0;
}
