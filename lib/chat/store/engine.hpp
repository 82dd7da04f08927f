// The storage engine of stored: one RocksDB database with the column families of
// ARCHITECTURE.md "Storage":
//
//   messages   channel|bucket|id -> msgpack proto::Message; a 12-byte fixed prefix
//              extractor (channel|bucket) with prefix bloom filters, LZ4 (ZSTD bottommost)
//   directory  opaque keys and values that guildd encodes (guilds, channels, members, ...)
//   meta       schema_version and bucket_ms, written on first open and checked on every
//              later one: data from a newer schema, or a bucket size that differs from the
//              one the data was written with, is refused; retention policies and counters
//              (retention.hpp).
//
// Writes are staged, not written: every stage_* call adds to one WriteBatchWithIndex, and
// commit() writes that batch at once (synced when asked) — the group commit of the daemon
// is one commit() per loop turn. Existence checks of edits and deletes read through the
// staged batch, so an edit after an append, or a second delete of one id, in the same turn
// sees the first. Reads (get, scan, history pages) see committed data only.
//
// Threads: one loop thread owns the engine and is the only one to stage and commit. The
// read-only calls (get_message, get_dir, scan_dir, messages, stats_json) and the raw
// handles (db(), *_cf()) only touch RocksDB, which is thread-safe, so stored's background
// worker uses them for statistics, compaction, checkpoints and retention sweeps (which
// write their own WriteBatch, not the staged one). close() must not race such a worker:
// the daemon joins it first.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "chat/proto/ops.hpp"
#include "chat/store/keys.hpp"
#include "chat/store/status.hpp"

namespace rocksdb {
class DB;
class Statistics;
class ColumnFamilyHandle;
class Iterator;
class WriteBatchWithIndex;
class Cache;
}  // namespace rocksdb

namespace chat::store {

// The layout version of the data on disk (meta "schema_version").
inline constexpr int kStoreSchemaVersion = 1;

// Compression of the messages and directory column families, per level. The default was
// chosen by measurement (bench/README.md "stored"); the others exist for that benchmark.
enum class Compression {
  lz4_zstd_bottom,  // LZ4 on L0..Ln-1, ZSTD on the bottommost level (default)
  lz4,              // LZ4 everywhere
  zstd,             // ZSTD everywhere
  none,
};

struct EngineOptions {
  std::string path;                     // the database directory (created if missing)
  uint64_t bucket_ms = 10 * kMsPerDay;  // fixed once data exists
  size_t block_cache_mb = 64;
  Compression compression = Compression::lz4_zstd_bottom;
  bool statistics = true;  // RocksDB tickers (block cache hits, stall time) for `stats`
};

// An iterator over the messages column family that stays inside [lower, upper) and
// seeks in total order (ranges cross buckets, that is prefixes). Keeps the bounds alive
// for as long as the iterator lives.
class MessageCursor {
 public:
  ~MessageCursor();
  rocksdb::Iterator& it() { return *it_; }

 private:
  friend class Engine;
  MessageCursor() = default;
  std::string lower_, upper_;
  struct Bounds;
  std::unique_ptr<Bounds> bounds_;  // rocksdb::Slices and ReadOptions pointing at the strings
  std::unique_ptr<rocksdb::Iterator> it_;
};

class Engine {
 public:
  // Opens (creating if needed) the database. On failure `out` stays null and the status
  // says why: unavailable (cannot open, e.g. locked), incompatible (newer schema),
  // config_mismatch (bucket_ms differs from the data's).
  static Status open(const EngineOptions& options, std::unique_ptr<Engine>& out);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Closes the database; staged writes that were not committed are dropped. Idempotent.
  Status close();

  uint64_t bucket_ms() const { return bucket_ms_; }
  const std::string& path() const { return path_; }

  // Committed state.
  Status get_message(uint64_t channel_id, uint64_t message_id, proto::Message& out);
  Status get_dir(const std::string& key, std::string& value);
  // Entries whose key starts with `prefix`, in key order; limit 0 = all.
  Status scan_dir(std::string_view prefix, size_t limit, std::vector<proto::DirEntry>& out);
  // One page of the same: entries under `prefix` whose key sorts after `start_after` ("" =
  // from the first), at most `limit` of them (0 = no count bound) whose keys and values
  // add up to at most `max_bytes` (0 = no byte bound; the first entry is taken whatever
  // its size, so a page is never empty while entries remain).
  // `more`: an entry under `prefix` follows the last one taken.
  Status scan_dir_page(std::string_view prefix, std::string_view start_after, size_t limit,
                       size_t max_bytes, std::vector<proto::DirEntry>& out, bool& more);
  // Operator figures as JSON: one channel's message count and buckets, or (channel 0) the
  // whole database's estimates.
  std::string stats_json(uint64_t channel_id);
  std::unique_ptr<MessageCursor> messages(std::string lower, std::string upper);

  // Staged writes (see the top of the file).
  void stage_message(const proto::Message& m);  // append, or overwrite the same id
  Status stage_edit(const proto::Message& m);   // not_found unless the message exists
  // Stages tombstones for the ids that exist; returns how many existed.
  uint64_t stage_delete(uint64_t channel_id, const std::vector<uint64_t>& ids);
  void stage_dir_put(const std::string& key, const std::string& value);
  void stage_dir_del(const std::string& key);
  void stage_meta_put(const std::string& key, const std::string& value);
  void stage_meta_del(const std::string& key);
  size_t staged() const { return staged_; }
  // Writes the staged batch as one WriteBatch (fsynced when `sync`) and clears it; on
  // failure the batch is dropped too, and every write in it failed.
  Status commit(bool sync);

  // For the sibling files of this library and stored's worker (see the top of the file).
  rocksdb::DB* db() const { return db_; }
  rocksdb::ColumnFamilyHandle* messages_cf() const { return messages_cf_; }
  rocksdb::ColumnFamilyHandle* directory_cf() const { return directory_cf_; }
  rocksdb::ColumnFamilyHandle* meta_cf() const { return meta_cf_; }
  rocksdb::Statistics* statistics() const { return statistics_.get(); }
  // Makes running and future manual compactions (CompactRange) return at once; called
  // before a worker is joined at shutdown.
  void cancel_manual_compactions();

 private:
  Engine() = default;
  bool exists_staged(rocksdb::ColumnFamilyHandle* cf, const std::string& key);

  std::string path_;
  uint64_t bucket_ms_ = 0;
  std::shared_ptr<rocksdb::Cache> cache_;
  std::shared_ptr<rocksdb::Statistics> statistics_;
  rocksdb::DB* db_ = nullptr;
  rocksdb::ColumnFamilyHandle* default_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* messages_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* directory_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_cf_ = nullptr;
  std::unique_ptr<rocksdb::WriteBatchWithIndex> batch_;
  size_t staged_ = 0;
};

}  // namespace chat::store
