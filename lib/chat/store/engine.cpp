// See engine.hpp.
#include "chat/store/engine.hpp"

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/statistics.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/write_batch_with_index.h>

#include <algorithm>
#include <filesystem>

#include "chat/obs/log.hpp"
#include "chat/store/stats.hpp"

namespace chat::store {
namespace {

constexpr const char* kMessagesCf = "messages";
constexpr const char* kDirectoryCf = "directory";
constexpr const char* kMetaCf = "meta";
constexpr const char* kSchemaKey = "schema_version";
constexpr const char* kBucketMsKey = "bucket_ms";

bool supported(rocksdb::CompressionType type) {
  static const std::vector<rocksdb::CompressionType> all = rocksdb::GetSupportedCompressions();
  return std::find(all.begin(), all.end(), type) != all.end();
}

rocksdb::CompressionType fast_compression() {
  if (supported(rocksdb::kLZ4Compression)) return rocksdb::kLZ4Compression;
  if (supported(rocksdb::kSnappyCompression)) return rocksdb::kSnappyCompression;
  return rocksdb::kNoCompression;
}

// Default: LZ4 on the upper levels, which are written and rewritten often and hold the
// recent messages that are read most, and ZSTD on the bottommost, where most of the data
// ends up and is read least: measured in bench/README.md "stored". Each falls back to what
// this build of RocksDB supports.
void set_compression(rocksdb::ColumnFamilyOptions& o, Compression c) {
  const bool zstd = supported(rocksdb::kZSTD);
  switch (c) {
    case Compression::lz4_zstd_bottom:
      o.compression = fast_compression();
      o.bottommost_compression = zstd ? rocksdb::kZSTD : rocksdb::kDisableCompressionOption;
      break;
    case Compression::lz4:
      o.compression = fast_compression();
      break;
    case Compression::zstd:
      o.compression = zstd ? rocksdb::kZSTD : fast_compression();
      break;
    case Compression::none:
      o.compression = rocksdb::kNoCompression;
      break;
  }
}

rocksdb::ColumnFamilyOptions table_options(const std::shared_ptr<rocksdb::Cache>& cache,
                                           bool prefix_bloom, Compression compression) {
  rocksdb::ColumnFamilyOptions o;
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = cache;
  t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  t.whole_key_filtering = true;  // point reads (get, edit, delete) use the full-key bloom
  // Index and filter blocks live in the block cache, partitioned: a monolithic index or
  // filter of a large bottommost SST is bigger than a cache shard, so it was evicted as
  // soon as it was used and read back and parsed on every page (2.5 ms a page at 1M
  // messages, bench/README.md "stored"). Partitions are small blocks like any other, and
  // the top-level index stays pinned.
  t.cache_index_and_filter_blocks = true;
  t.cache_index_and_filter_blocks_with_high_priority = true;
  t.pin_l0_filter_and_index_blocks_in_cache = true;
  t.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  t.partition_filters = true;
  t.metadata_block_size = 4096;
  t.pin_top_level_index_and_filter = true;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  if (prefix_bloom) {
    // channel|bucket: range scans inside one bucket and point reads skip SST files whose
    // bloom says the (channel, bucket) is not there; the memtable gets one too.
    o.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(kBucketPrefixSize));
    o.memtable_prefix_bloom_size_ratio = 0.05;
  }
  set_compression(o, compression);
  return o;
}

Status from_rocks(const rocksdb::Status& s, const char* what) {
  if (s.ok()) return Status::ok();
  if (s.IsNotFound()) return Status::not_found();
  return Status::io_error(std::string(what) + ": " + s.ToString());
}

}  // namespace

struct MessageCursor::Bounds {
  rocksdb::Slice lower, upper;
  rocksdb::ReadOptions read;
};

MessageCursor::~MessageCursor() {
  it_.reset();
}

Status Engine::open(const EngineOptions& options, std::unique_ptr<Engine>& out) {
  out.reset();
  std::unique_ptr<Engine> e(new Engine());
  e->path_ = options.path;
  e->bucket_ms_ = options.bucket_ms ? options.bucket_ms : 10 * kMsPerDay;
  e->cache_ = rocksdb::NewLRUCache(std::max<size_t>(options.block_cache_mb, 1) << 20);

  std::error_code ec;
  std::filesystem::create_directories(options.path, ec);
  if (ec) return {Status::Code::unavailable, "cannot create " + options.path + ": " + ec.message()};

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 5;
  db_options.bytes_per_sync = 1 << 20;
  // A WAL file lives until every column family with data in it has flushed; the meta and
  // directory families change rarely and would pin old WAL files (gigabytes under a
  // message load) until RocksDB's default limit. Past this size the families holding the
  // oldest WAL are flushed.
  db_options.max_total_wal_size = 128ULL << 20;
  if (options.statistics) {
    e->statistics_ = rocksdb::CreateDBStatistics();
    // Tickers only: the timers and histograms cost more than the figures `stats` shows.
    e->statistics_->set_stats_level(rocksdb::StatsLevel::kExceptTimers);
    db_options.statistics = e->statistics_;
  }

  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
      {kMessagesCf, table_options(e->cache_, true, options.compression)},
      {kDirectoryCf, table_options(e->cache_, false, options.compression)},
      {kMetaCf, rocksdb::ColumnFamilyOptions()},
  };
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status s = rocksdb::DB::Open(db_options, options.path, cfs, &handles, &e->db_);
  if (!s.ok())
    return {Status::Code::unavailable, "cannot open " + options.path + ": " + s.ToString()};
  e->default_cf_ = handles[0];
  e->messages_cf_ = handles[1];
  e->directory_cf_ = handles[2];
  e->meta_cf_ = handles[3];
  e->batch_ = std::make_unique<rocksdb::WriteBatchWithIndex>(rocksdb::BytewiseComparator(), 0,
                                                             /*overwrite_key=*/true);

  // The meta records: refuse what this binary cannot read, record what first open decides.
  rocksdb::WriteBatch first;
  std::string value;
  s = e->db_->Get(rocksdb::ReadOptions(), e->meta_cf_, kSchemaKey, &value);
  if (s.ok()) {
    int version = std::atoi(value.c_str());
    if (version <= 0 || version > kStoreSchemaVersion)
      return {Status::Code::incompatible, "the data in " + options.path + " has schema_version " +
                                              value + ", this stored reads up to " +
                                              std::to_string(kStoreSchemaVersion) +
                                              ": run a newer stored"};
  } else if (s.IsNotFound()) {
    first.Put(e->meta_cf_, kSchemaKey, std::to_string(kStoreSchemaVersion));
  } else {
    return from_rocks(s, "reading meta schema_version");
  }
  s = e->db_->Get(rocksdb::ReadOptions(), e->meta_cf_, kBucketMsKey, &value);
  if (s.ok()) {
    uint64_t stored_ms = std::strtoull(value.c_str(), nullptr, 10);
    if (stored_ms != e->bucket_ms_)
      return {Status::Code::config_mismatch,
              "store.bucket_days gives bucket_ms=" + std::to_string(e->bucket_ms_) +
                  " but the data in " + options.path + " was written with bucket_ms=" + value +
                  " (store.bucket_days=" + std::to_string(stored_ms / kMsPerDay) +
                  "); the bucket size is fixed once data exists"};
  } else if (s.IsNotFound()) {
    first.Put(e->meta_cf_, kBucketMsKey, std::to_string(e->bucket_ms_));
  } else {
    return from_rocks(s, "reading meta bucket_ms");
  }
  if (first.Count() > 0) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    s = e->db_->Write(wo, &first);
    if (!s.ok()) return from_rocks(s, "writing meta");
    log::notice("store", "initialised meta",
                {{"path", options.path},
                 {"bucket_ms", e->bucket_ms_},
                 {"schema_version", kStoreSchemaVersion}});
  }
  out = std::move(e);
  return Status::ok();
}

Engine::~Engine() {
  close();
}

Status Engine::close() {
  if (!db_) return Status::ok();
  batch_.reset();
  staged_ = 0;
  for (auto* cf : {default_cf_, messages_cf_, directory_cf_, meta_cf_})
    if (cf) db_->DestroyColumnFamilyHandle(cf);
  default_cf_ = messages_cf_ = directory_cf_ = meta_cf_ = nullptr;
  rocksdb::Status s = db_->Close();
  delete db_;
  db_ = nullptr;
  return from_rocks(s, "closing the database");
}

Status Engine::get_message(uint64_t channel_id, uint64_t message_id, proto::Message& out) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), messages_cf_,
                               message_key(channel_id, message_id, bucket_ms_), &value);
  if (!s.ok()) return from_rocks(s, "reading a message");
  std::string error;
  if (!proto::unpack(value, out, &error))
    return Status::io_error("stored message does not decode: " + error);
  return Status::ok();
}

Status Engine::get_dir(const std::string& key, std::string& value) {
  return from_rocks(db_->Get(rocksdb::ReadOptions(), directory_cf_, key, &value),
                    "reading the directory");
}

Status Engine::scan_dir(std::string_view prefix, size_t limit, std::vector<proto::DirEntry>& out) {
  bool more = false;
  return scan_dir_page(prefix, {}, limit, 0, out, more);
}

Status Engine::scan_dir_page(std::string_view prefix, std::string_view start_after, size_t limit,
                             size_t max_bytes, std::vector<proto::DirEntry>& out, bool& more) {
  more = false;
  std::string upper = prefix_successor(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  if (!upper.empty()) ro.iterate_upper_bound = &upper_slice;
  // The first key after start_after is start_after + '\0' (bytewise order); below the
  // prefix the scan starts at the prefix.
  std::string from(prefix);
  if (!start_after.empty()) {
    std::string next = std::string(start_after) + '\0';
    if (next > from) from = std::move(next);
  }
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, directory_cf_));
  size_t taken = 0, bytes = 0;
  for (it->Seek(rocksdb::Slice(from)); it->Valid(); it->Next()) {
    size_t size = it->key().size() + it->value().size();
    if ((limit != 0 && taken >= limit) ||
        (max_bytes != 0 && taken > 0 && bytes + size > max_bytes)) {
      more = true;
      break;
    }
    out.push_back(proto::DirEntry{it->key().ToString(), it->value().ToString()});
    bytes += size;
    ++taken;
  }
  return from_rocks(it->status(), "scanning the directory");
}

std::unique_ptr<MessageCursor> Engine::messages(std::string lower, std::string upper) {
  std::unique_ptr<MessageCursor> c(new MessageCursor());
  c->lower_ = std::move(lower);
  c->upper_ = std::move(upper);
  c->bounds_ = std::make_unique<MessageCursor::Bounds>();
  c->bounds_->lower = rocksdb::Slice(c->lower_);
  c->bounds_->upper = rocksdb::Slice(c->upper_);
  // Pages cross bucket boundaries, so prefix seek (which stays inside one channel|bucket)
  // would miss keys: seek in total order, bounded to the channel's range.
  c->bounds_->read.total_order_seek = true;
  c->bounds_->read.iterate_lower_bound = &c->bounds_->lower;
  c->bounds_->read.iterate_upper_bound = &c->bounds_->upper;
  c->it_.reset(db_->NewIterator(c->bounds_->read, messages_cf_));
  return c;
}

std::string Engine::stats_json(uint64_t channel_id) {
  return store::stats_json(*this, channel_id);
}

void Engine::cancel_manual_compactions() {
  if (db_) db_->DisableManualCompaction();
}

bool Engine::exists_staged(rocksdb::ColumnFamilyHandle* cf, const std::string& key) {
  std::string value;
  rocksdb::Status s = batch_->GetFromBatchAndDB(db_, rocksdb::ReadOptions(), cf, key, &value);
  return s.ok();
}

void Engine::stage_message(const proto::Message& m) {
  batch_->Put(messages_cf_, message_key(m.channel_id, m.id, bucket_ms_), proto::pack(m));
  ++staged_;
}

Status Engine::stage_edit(const proto::Message& m) {
  std::string key = message_key(m.channel_id, m.id, bucket_ms_);
  if (!exists_staged(messages_cf_, key)) return Status::not_found("unknown message");
  batch_->Put(messages_cf_, key, proto::pack(m));
  ++staged_;
  return Status::ok();
}

uint64_t Engine::stage_delete(uint64_t channel_id, const std::vector<uint64_t>& ids) {
  uint64_t existed = 0;
  for (uint64_t id : ids) {
    std::string key = message_key(channel_id, id, bucket_ms_);
    if (!exists_staged(messages_cf_, key)) continue;
    batch_->Delete(messages_cf_, key);
    ++existed;
    ++staged_;
  }
  return existed;
}

void Engine::stage_dir_put(const std::string& key, const std::string& value) {
  batch_->Put(directory_cf_, key, value);
  ++staged_;
}

void Engine::stage_dir_del(const std::string& key) {
  batch_->Delete(directory_cf_, key);
  ++staged_;
}

void Engine::stage_meta_put(const std::string& key, const std::string& value) {
  batch_->Put(meta_cf_, key, value);
  ++staged_;
}

void Engine::stage_meta_del(const std::string& key) {
  batch_->Delete(meta_cf_, key);
  ++staged_;
}

Status Engine::commit(bool sync) {
  if (staged_ == 0) return Status::ok();
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  rocksdb::Status s = db_->Write(wo, batch_->GetWriteBatch());
  batch_->Clear();
  staged_ = 0;
  return from_rocks(s, "committing a write batch");
}

}  // namespace chat::store
