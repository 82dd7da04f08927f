// chat.toml: one file for the whole daemon set, one table per daemon. Every key has a
// built-in default; the file overrides the defaults, CHAT_<TABLE>_<KEY> environment
// variables override the file, and `--set table.key=value` flags override everything.
// An unknown key or a bad value is a ConfigError naming the key (and the file and line
// when it came from the file). See chat.toml(5) and examples/chat.toml.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace chat {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The shards one daemon instance serves: first..last inclusive. A daemon subscribes to
// the bus subjects of these shards only, so several instances split the shards between
// them (ARCHITECTURE.md "Scale-out").
struct ShardRange {
  int first = 0;
  int last = 0;
  bool contains(int shard) const { return shard >= first && shard <= last; }
  int count() const { return last - first + 1; }
};

// "" = every shard (0..shards-1); "N" = that shard; "FIRST-LAST" inclusive. Throws
// ConfigError naming `key` when the text is malformed or outside 0..shards-1.
ShardRange parse_shard_range(const std::string& spec, int shards, const std::string& key);

struct Config {
  std::string path;  // the file that was read, empty if none was found
  std::string data_dir = "./var";
  int shards = 1;  // shard = id % shards, for chat.guild.<shard> and chat.store.<shard>

  struct Log {
    std::string level = "info";  // err | warning | notice | info | debug
    std::string tags;            // comma list of tags shown at info/debug; empty = all
  } log;

  struct Nats {
    // One server, or a comma-separated list of the servers of a NATS cluster: the daemons
    // connect to one of them and fail over to another when it goes away.
    std::string url = "nats://127.0.0.1:4290";
    bool spawn = true;                   // chatd starts a local nats-server on url's port
    std::string server = "nats-server";  // program chatd runs (looked up in PATH and /usr/sbin)
  } nats;

  struct Chatd {
    std::string listen = "127.0.0.1:8794";  // health and metrics
    int intensity = 5;  // more restarts than this within period_s stops everything
    int period_s = 30;
    int stop_timeout_ms = 10000;   // per child, SIGTERM then SIGKILL
    int ready_timeout_ms = 30000;  // a child that does not report READY=1 in time failed
    int backoff_max_ms = 5000;     // restart delay doubles from 100 ms up to this
    // The daemons this chatd runs (names from stored, guildd, presenced, gatewayd), always
    // in that start order; empty = all of them. A node of a cluster runs a subset.
    std::vector<std::string> programs;
  } chatd;

  struct Gateway {
    std::string listen = "127.0.0.1:8790";  // REST, WebSocket, health, metrics
    std::string public_url;  // ws URL given to clients; empty = ws://<listen>/gateway
    int threads = 0;         // event loops; 0 = one per core but one (gatewayd main.cpp)
    int heartbeat_interval_ms = 41250;
    int resume_window_s = 180;
    int max_queue_bytes = 4 << 20;    // a session queuing more than this is closed
    int request_timeout_ms = 5000;    // bus requests to guildd
    int rest_rate_limit = 5000;       // REST requests per bucket (token, route, channel/guild)
    int rest_rate_window_ms = 1000;   // ... per this window; past it: 429 with Retry-After
    int max_presence_watches = 1000;  // members of large guilds one session may watch (op 8)
  } gateway;

  struct Guild {
    std::string listen = "127.0.0.1:8792";  // health and metrics
    int worker = 1;                 // snowflake worker id (0-31), distinct per id-issuing instance
    int process = 0;                // snowflake process id (0-31)
    int request_timeout_ms = 5000;  // bus requests to stored
    std::string shard_range;        // chat.guild.<shard> served here: "" = all, or "FIRST-LAST"
  } guild;

  struct Store {
    std::string listen = "127.0.0.1:8793";  // health and metrics
    std::string sync = "batch";             // batch: one synced WriteBatch per loop turn | none
    int bucket_days = 10;
    int block_cache_mb = 64;
    std::string shard_range;  // chat.store.<shard> served here: "" = all, or "FIRST-LAST"
  } store;

  struct Presence {
    std::string listen = "127.0.0.1:8795";  // health and metrics
    int lease_timeout_ms = 15000;           // a gateway node silent this long loses its sessions
    int coalesce_ms = 500;                  // changes to one user within this window become one
    int guild_rate = 50;                    // presence records per second per guild
    int guild_burst = 200;                  // records a guild may get at once
    int large_guild_threshold = 1000;  // above: presence only for members a session asked about
    int sync_window_ms = 3000;         // after start: sessions from the resync are not re-announced
    int request_timeout_ms = 1000;     // gatewayd's queries to presenced
    std::string shard_range;  // chat.presence.<shard> served here: "" = all, or "FIRST-LAST"
  } presence;

  // Absolute data_dir (relative paths are taken from the working directory).
  std::string data_path() const;
  // The shard ranges of guild.shard_range, store.shard_range and presence.shard_range
  // (validated against `shards` by load_config).
  ShardRange guild_shards() const {
    return parse_shard_range(guild.shard_range, shards, "guild.shard_range");
  }
  ShardRange store_shards() const {
    return parse_shard_range(store.shard_range, shards, "store.shard_range");
  }
  ShardRange presence_shards() const {
    return parse_shard_range(presence.shard_range, shards, "presence.shard_range");
  }
};

// Finds the file: explicit path, else $CHAT_CONFIG, else ./chat.toml, else
// /etc/chat/chat.toml; returns "" when none exists (defaults apply).
std::string find_config_file(const std::string& explicit_path);

// Loads defaults < file < environment < overrides ("table.key=value" each).
// Throws ConfigError on an unknown key, a wrong type or a value out of range.
Config load_config(const std::string& file, const std::vector<std::string>& overrides = {},
                   char** envp = nullptr);

// Parses "host:port" (IPv4/IPv6/name). Throws ConfigError naming `key`.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
HostPort parse_host_port(const std::string& value, const std::string& key = "address");

// A comma list (chatd.programs from the environment or --set): split at commas, blanks
// trimmed, empty items dropped.
std::vector<std::string> split_comma_list(const std::string& text);

}  // namespace chat
