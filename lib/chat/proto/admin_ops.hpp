// Operator requests to one daemon (ARCHITECTURE.md "The bus"): chat.admin.<daemon>
// (subjects::admin), sent by gatewayd's /api/v10/admin/* routes and by chatctl. One flat
// msgpack map with a version `v` and an `op`, like the envelopes of ops.hpp; the answer's
// `text` is JSON for a person or a script to read, so a new figure needs no schema change.
//
// chat.admin.stored  (stored answers; slow ops answer when done: use a long timeout)
//
// op              reads                      text (JSON) on 200
// stats           channel_id (0 = all)       all: {messages (estimate), buckets, disk
//                                            {live_sst_bytes, total_sst_bytes,
//                                            memtable_bytes, wal_bytes, dir_bytes},
//                                            levels [{level, files, bytes}],
//                                            pending_compaction_bytes, block_cache
//                                            {hits, misses, hit_rate}, write_stalls
//                                            {stall_micros, slowdowns, stops,
//                                            delayed_write_rate, stopped}, retention
//                                            {removed_messages, removed_buckets, runs,
//                                            last_run_ms, policies}, column_families};
//                                            one channel: {channel_id, messages (exact),
//                                            buckets [{bucket, start_ms, messages}],
//                                            approximate_bytes, retention_days}
// compact         channel_id (0 = all)       {channel_id, before_bytes, after_bytes,
//                                            seconds}
// backup          name ([A-Za-z0-9._-]{1,64}, {name, path, seconds}; 409 when the name
//                 not "." or "..")           exists, 400 when it is not valid
// retention.run   -                          {channels, removed_messages, removed_buckets,
//                                            seconds}: one retention sweep now
//
// status: 200 ok, 400 bad request (undecodable, newer `v`, unknown op, bad field),
// 409 conflict (backup name taken), 503 busy or stopping, 500 storage error; `error` says
// why in one line.
#pragma once

#include <cstdint>
#include <string>

#include "chat/proto/model.hpp"

namespace chat::proto {

struct AdminRequest {
  int v = kSchemaVersion;
  std::string op;
  uint64_t channel_id = 0;
  std::string name;
  MSGPACK_DEFINE_MAP(v, op, channel_id, name)
};

struct AdminReply {
  int v = kSchemaVersion;
  int status = 200;
  std::string error;
  std::string text;  // JSON
  MSGPACK_DEFINE_MAP(v, status, error, text)
};

}  // namespace chat::proto
