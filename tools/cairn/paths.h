// Checks of the file-system paths the cairn tool is given, made before the
// library opens, creates or replaces anything there.
//
// The rule: the LAST component of a path that the tool opens as a registry
// or writes to (--db and its -wal, -shm and -journal files, the backup
// destination and its manifest, the restore target and its -wal and -shm)
// must not be a symbolic link, a FIFO, a socket or a device, nor a directory
// where a file is expected. Such a path is refused with an error that names
// it and the problem, and nothing is written anywhere.
//
// Why a symlink is refused even when it is the user's explicit choice: the
// tool cannot tell a link the user made from one planted by someone else in
// a shared directory (/tmp/registry.db -> another user's registry or any file
// they can write), and the commands act on different files through a link:
// SQLite opens the link's target, but restore renames the new file over the
// link's NAME, so a "successful" restore would leave the registry a server
// opens through the link unchanged. Passing the real path costs the user one
// `realpath`; the error says so.
//
// Why directories ALONG the path may be links: /tmp, /var or a home
// directory are links on many systems (macOS, NFS homes, bind-mount
// layouts), and refusing them would refuse ordinary setups. Whoever can
// replace a directory along the path with a link owns its parent directory,
// and so could already do anything with the files below it: refusing those
// links would not stop them.
//
// These checks close the everyday hazards (a planted link, a FIFO that
// would hang the tool, a directory typed for a file); they are not atomic
// with the library's open, so a process racing the tool can still swap a
// file for a link in between. Closing that race is the library's job
// (O_NOFOLLOW, SQLITE_OPEN_NOFOLLOW), not the tool's.
//
// Errors: cairn::Error, with a code whose exit code is 5 (refused):
// not_a_registry for --db, read_only for a backup destination (the tool will
// not write there), restore_refused for a restore target. An empty path or
// one with a NUL byte is a usage error (invalid_argument, exit code 2).
#pragma once

#include <filesystem>

namespace cairn::cli {

// --db PATH (or CAIRN_DB): a regular file or nothing yet, and the same for
// PATH-wal, PATH-shm and PATH-journal.
void check_db_path(const std::filesystem::path& db);

// `backup create [DEST]`, before the tool names a file inside a directory:
// DEST may be a directory (a real one, not a link to one), a regular file
// or nothing yet; a file DEST's manifest (DEST.manifest.json) must be a
// regular file or nothing yet.
void check_backup_dest(const std::filesystem::path& dest);

// `restore --to TARGET` (or --db): a regular file or nothing yet, and the
// same for TARGET-wal and TARGET-shm.
void check_restore_target(const std::filesystem::path& target);

}  // namespace cairn::cli
