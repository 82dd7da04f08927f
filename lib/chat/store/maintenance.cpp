// See maintenance.hpp.
#include "chat/store/maintenance.hpp"

#include <rocksdb/db.h>
#include <rocksdb/utilities/checkpoint.h>

#include <chrono>
#include <filesystem>

#include "chat/obs/log.hpp"
#include "chat/store/stats.hpp"

namespace chat::store {
namespace {

uint64_t range_bytes(Engine& engine, uint64_t channel_id) {
  std::string lo = channel_begin(channel_id), hi = channel_end(channel_id);
  rocksdb::Range range(lo, hi);
  uint64_t bytes = 0;
  rocksdb::SizeApproximationOptions sao;
  sao.include_memtables = true;
  sao.include_files = true;
  engine.db()->GetApproximateSizes(sao, engine.messages_cf(), &range, 1, &bytes);
  return bytes;
}

Status from_compaction(const rocksdb::Status& s) {
  if (s.ok()) return Status::ok();
  if (s.IsIncomplete() || s.IsShutdownInProgress())
    return {Status::Code::busy, "compaction cancelled: stored is stopping"};
  return Status::io_error("compaction: " + s.ToString());
}

}  // namespace

Status compact(Engine& engine, uint64_t channel_id, CompactResult& result) {
  auto start = std::chrono::steady_clock::now();
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
  options.exclusive_manual_compaction = false;  // background compactions go on meanwhile
  rocksdb::DB* db = engine.db();
  if (channel_id == 0) {
    // Flushed first, so that before and after are both bytes of table files on disk (a
    // memtable's size is its arena, not its data).
    rocksdb::FlushOptions fo;
    for (auto* cf : {engine.messages_cf(), engine.directory_cf(), engine.meta_cf()}) {
      rocksdb::Status s = db->Flush(fo, cf);
      if (!s.ok()) return Status::io_error("flush before compaction: " + s.ToString());
    }
    result.before_bytes = live_bytes(engine);
    for (auto* cf : {engine.messages_cf(), engine.directory_cf(), engine.meta_cf()}) {
      Status s = from_compaction(db->CompactRange(options, cf, nullptr, nullptr));
      if (!s.is_ok()) return s;
    }
    result.after_bytes = live_bytes(engine);
  } else {
    result.before_bytes = range_bytes(engine, channel_id);
    std::string lo = channel_begin(channel_id), hi = channel_end(channel_id);
    rocksdb::Slice begin(lo), end(hi);
    Status s = from_compaction(db->CompactRange(options, engine.messages_cf(), &begin, &end));
    if (!s.is_ok()) return s;
    result.after_bytes = range_bytes(engine, channel_id);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::notice("store", "compacted",
              {{"channel_id", channel_id},
               {"before_bytes", result.before_bytes},
               {"after_bytes", result.after_bytes},
               {"seconds", result.seconds}});
  return Status::ok();
}

bool valid_backup_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
  if (name.find("..") != std::string_view::npos) return false;
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Status backup(Engine& engine, const std::string& backups_dir, const std::string& name,
              std::string& path) {
  if (!valid_backup_name(name))
    return Status::bad_request("backup name must be 1-64 of [A-Za-z0-9._-] without \"..\"");
  std::error_code ec;
  std::filesystem::create_directories(backups_dir, ec);
  if (ec) return Status::io_error("cannot create " + backups_dir + ": " + ec.message());
  path = backups_dir + "/" + name;
  // RocksDB builds the checkpoint in <path>.tmp and renames it: refuse both.
  if (std::filesystem::exists(path, ec) || std::filesystem::exists(path + ".tmp", ec))
    return {Status::Code::already_exists, "a backup named \"" + name + "\" exists"};
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(engine.db(), &raw);
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // log_size_for_flush 0: always flush the memtables, so the checkpoint needs no WAL replay.
  if (s.ok()) s = checkpoint->CreateCheckpoint(path, /*log_size_for_flush=*/0);
  if (!s.ok()) return Status::io_error("checkpoint " + path + ": " + s.ToString());
  log::notice("store", "backup made", {{"name", name}, {"path", path}});
  return Status::ok();
}

}  // namespace chat::store
