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

struct Config {
  std::string path;  // the file that was read, empty if none was found
  std::string data_dir = "./var";
  int shards = 1;  // shard = id % shards, for chat.guild.<shard> and chat.store.<shard>

  struct Log {
    std::string level = "info";  // err | warning | notice | info | debug
    std::string tags;            // comma list of tags shown at info/debug; empty = all
  } log;

  struct Nats {
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
  } chatd;

  struct Gateway {
    std::string listen = "127.0.0.1:8790";  // REST, WebSocket, health, metrics
    std::string public_url;  // ws URL given to clients; empty = ws://<listen>/gateway
    int threads = 0;         // event loops; 0 = one per core
    int heartbeat_interval_ms = 41250;
    int resume_window_s = 180;
    int max_queue_bytes = 4 << 20;   // a session queuing more than this is closed
    int request_timeout_ms = 5000;   // bus requests to guildd
    int rest_rate_limit = 5000;      // REST requests per bucket (token, route, channel/guild)
    int rest_rate_window_ms = 1000;  // ... per this window; past it: 429 with Retry-After
  } gateway;

  struct Guild {
    std::string listen = "127.0.0.1:8792";  // health and metrics
    int worker = 1;                 // snowflake worker id (0-31), distinct per id-issuing instance
    int process = 0;                // snowflake process id (0-31)
    int request_timeout_ms = 5000;  // bus requests to stored
  } guild;

  struct Store {
    std::string listen = "127.0.0.1:8793";  // health and metrics
    std::string sync = "batch";             // batch: one synced WriteBatch per loop turn | none
    int bucket_days = 10;
    int block_cache_mb = 64;
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
  } presence;

  // Absolute data_dir (relative paths are taken from the working directory).
  std::string data_path() const;
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

}  // namespace chat
