// See config.hpp. Keys are declared once, in key_table(), with their type, range and the
// field they set; the file, the environment and the flags all go through that one table,
// so precedence and validation cannot drift apart.
#include "chat/config/config.hpp"

#include <unistd.h>

#include <toml++/toml.h>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <type_traits>
#include <utility>

#include <cerrno>

extern char** environ;

namespace chat {
namespace {

struct Key {
  std::string name;  // "table.key" or "key"
  enum Type { Str, Int, Bool, StrList } type;
  std::function<void(Config&, const std::string&, int64_t, bool)> set;
  int64_t min = 0, max = 0;               // for Int
  std::vector<std::string> choices = {};  // for Str and each StrList item, empty = any
  // For StrList: a TOML array of strings in the file, a comma list in the environment
  // and in --set.
  std::function<void(Config&, std::vector<std::string>)> set_list = {};
};

template <typename F>
Key str_key(std::string name, F field, std::vector<std::string> choices = {}) {
  // A field that is a list of strings makes a StrList key (chatd.programs); the key table
  // keeps one spelling for every string key (tests/man reads it).
  if constexpr (std::is_same_v<decltype(field(std::declval<Config&>())),
                               std::vector<std::string>&>) {
    return Key{std::move(name),
               Key::StrList,
               nullptr,
               0,
               0,
               std::move(choices),
               [field](Config& c, std::vector<std::string> v) { field(c) = std::move(v); }};
  } else {
    return Key{std::move(name),
               Key::Str,
               [field](Config& c, const std::string& s, int64_t, bool) { field(c) = s; },
               0,
               0,
               std::move(choices)};
  }
}
template <typename F>
Key int_key(std::string name, F field, int64_t min, int64_t max) {
  return Key{
      std::move(name), Key::Int,
      [field](Config& c, const std::string&, int64_t v, bool) { field(c) = static_cast<int>(v); },
      min, max};
}
template <typename F>
Key bool_key(std::string name, F field) {
  return Key{std::move(name), Key::Bool,
             [field](Config& c, const std::string&, int64_t, bool b) { field(c) = b; }};
}

const std::vector<Key>& key_table() {
  static const std::vector<Key> keys = {
      str_key("data_dir", [](Config& c) -> std::string& { return c.data_dir; }),
      int_key(
          "shards", [](Config& c) -> int& { return c.shards; }, 1, 1024),
      str_key("log.level", [](Config& c) -> std::string& { return c.log.level; },
              {"err", "error", "warning", "warn", "notice", "info", "debug"}),
      str_key("log.tags", [](Config& c) -> std::string& { return c.log.tags; }),
      str_key("nats.url", [](Config& c) -> std::string& { return c.nats.url; }),
      bool_key("nats.spawn", [](Config& c) -> bool& { return c.nats.spawn; }),
      str_key("nats.server", [](Config& c) -> std::string& { return c.nats.server; }),
      str_key("chatd.listen", [](Config& c) -> std::string& { return c.chatd.listen; }),
      int_key(
          "chatd.intensity", [](Config& c) -> int& { return c.chatd.intensity; }, 0, 1000),
      int_key(
          "chatd.period_s", [](Config& c) -> int& { return c.chatd.period_s; }, 1, 86400),
      int_key(
          "chatd.stop_timeout_ms", [](Config& c) -> int& { return c.chatd.stop_timeout_ms; }, 100,
          600000),
      int_key(
          "chatd.ready_timeout_ms", [](Config& c) -> int& { return c.chatd.ready_timeout_ms; }, 100,
          600000),
      int_key(
          "chatd.backoff_max_ms", [](Config& c) -> int& { return c.chatd.backoff_max_ms; }, 100,
          600000),
      str_key("chatd.programs",
              [](Config& c) -> std::vector<std::string>& { return c.chatd.programs; },
              {"stored", "guildd", "presenced", "gatewayd"}),
      str_key("gateway.listen", [](Config& c) -> std::string& { return c.gateway.listen; }),
      str_key("gateway.public_url", [](Config& c) -> std::string& { return c.gateway.public_url; }),
      int_key(
          "gateway.threads", [](Config& c) -> int& { return c.gateway.threads; }, 0, 256),
      int_key(
          "gateway.heartbeat_interval_ms",
          [](Config& c) -> int& { return c.gateway.heartbeat_interval_ms; }, 100, 59999),
      int_key(
          "gateway.resume_window_s", [](Config& c) -> int& { return c.gateway.resume_window_s; }, 0,
          86400),
      int_key(
          "gateway.max_queue_bytes", [](Config& c) -> int& { return c.gateway.max_queue_bytes; },
          4096, INT_MAX),
      int_key(
          "gateway.request_timeout_ms",
          [](Config& c) -> int& { return c.gateway.request_timeout_ms; }, 10, 600000),
      int_key(
          "gateway.rest_rate_limit", [](Config& c) -> int& { return c.gateway.rest_rate_limit; }, 1,
          1000000),
      int_key(
          "gateway.rest_rate_window_ms",
          [](Config& c) -> int& { return c.gateway.rest_rate_window_ms; }, 10, 3600000),
      int_key(
          "gateway.max_presence_watches",
          [](Config& c) -> int& { return c.gateway.max_presence_watches; }, 0, 1000000),
      str_key("guild.listen", [](Config& c) -> std::string& { return c.guild.listen; }),
      int_key(
          "guild.worker", [](Config& c) -> int& { return c.guild.worker; }, 0, 31),
      int_key(
          "guild.process", [](Config& c) -> int& { return c.guild.process; }, 0, 31),
      int_key(
          "guild.request_timeout_ms", [](Config& c) -> int& { return c.guild.request_timeout_ms; },
          10, 600000),
      str_key("guild.shard_range", [](Config& c) -> std::string& { return c.guild.shard_range; }),
      str_key("store.listen", [](Config& c) -> std::string& { return c.store.listen; }),
      str_key("store.sync", [](Config& c) -> std::string& { return c.store.sync; },
              {"batch", "none"}),
      int_key(
          "store.bucket_days", [](Config& c) -> int& { return c.store.bucket_days; }, 1, 3650),
      int_key(
          "store.block_cache_mb", [](Config& c) -> int& { return c.store.block_cache_mb; }, 1,
          1 << 20),
      str_key("store.shard_range", [](Config& c) -> std::string& { return c.store.shard_range; }),
      str_key("presence.listen", [](Config& c) -> std::string& { return c.presence.listen; }),
      int_key(
          "presence.lease_timeout_ms",
          [](Config& c) -> int& { return c.presence.lease_timeout_ms; }, 300, 600000),
      int_key(
          "presence.coalesce_ms", [](Config& c) -> int& { return c.presence.coalesce_ms; }, 0,
          60000),
      int_key(
          "presence.guild_rate", [](Config& c) -> int& { return c.presence.guild_rate; }, 1,
          1000000),
      int_key(
          "presence.guild_burst", [](Config& c) -> int& { return c.presence.guild_burst; }, 1,
          1000000),
      int_key(
          "presence.large_guild_threshold",
          [](Config& c) -> int& { return c.presence.large_guild_threshold; }, 1, 100000000),
      int_key(
          "presence.sync_window_ms", [](Config& c) -> int& { return c.presence.sync_window_ms; }, 0,
          600000),
      int_key(
          "presence.request_timeout_ms",
          [](Config& c) -> int& { return c.presence.request_timeout_ms; }, 10, 600000),
      str_key("presence.shard_range",
              [](Config& c) -> std::string& { return c.presence.shard_range; }),
  };
  return keys;
}

const Key* find_key(const std::string& name) {
  for (auto& k : key_table())
    if (k.name == name) return &k;
  return nullptr;
}

std::string where(const std::string& file, int line) {
  if (file.empty()) return "";
  return file + ":" + std::to_string(line) + ": ";
}

void check_choice(const Key& k, const std::string& v, const std::string& origin) {
  if (k.choices.empty()) return;
  for (auto& c : k.choices)
    if (c == v) return;
  std::string list;
  for (auto& c : k.choices) list += (list.empty() ? "" : ", ") + c;
  throw ConfigError(origin + k.name + ": \"" + v + "\" is not one of " + list);
}

void check_range(const Key& k, int64_t v, const std::string& origin) {
  if (v < k.min || v > k.max)
    throw ConfigError(origin + k.name + ": " + std::to_string(v) + " is out of range " +
                      std::to_string(k.min) + ".." + std::to_string(k.max));
}

// Applies a value given as text (environment or flag).
void apply_text(Config& c, const Key& k, const std::string& text, const std::string& origin) {
  switch (k.type) {
    case Key::Str:
      check_choice(k, text, origin);
      k.set(c, text, 0, false);
      break;
    case Key::Int: {
      char* end = nullptr;
      errno = 0;
      long long v = std::strtoll(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || errno != 0)
        throw ConfigError(origin + k.name + ": \"" + text + "\" is not an integer");
      check_range(k, v, origin);
      k.set(c, "", v, false);
      break;
    }
    case Key::StrList: {
      std::vector<std::string> items = split_comma_list(text);
      for (auto& item : items) check_choice(k, item, origin);
      k.set_list(c, std::move(items));
      break;
    }
    case Key::Bool:
      if (text == "true" || text == "1" || text == "yes")
        k.set(c, "", 0, true);
      else if (text == "false" || text == "0" || text == "no")
        k.set(c, "", 0, false);
      else
        throw ConfigError(origin + k.name + ": \"" + text + "\" is not a boolean");
      break;
  }
}

void apply_node(Config& c, const std::string& name, const toml::node& node,
                const std::string& file) {
  int line = static_cast<int>(node.source().begin.line);
  std::string origin = where(file, line);
  const Key* k = find_key(name);
  if (!k) throw ConfigError(origin + "unknown key \"" + name + "\"");
  switch (k->type) {
    case Key::Str: {
      auto v = node.value<std::string>();
      if (!node.is_string() || !v) throw ConfigError(origin + name + ": expected a string");
      check_choice(*k, *v, origin);
      k->set(c, *v, 0, false);
      break;
    }
    case Key::Int: {
      if (!node.is_integer()) throw ConfigError(origin + name + ": expected an integer");
      int64_t v = *node.value<int64_t>();
      check_range(*k, v, origin);
      k->set(c, "", v, false);
      break;
    }
    case Key::Bool: {
      if (!node.is_boolean()) throw ConfigError(origin + name + ": expected true or false");
      k->set(c, "", 0, *node.value<bool>());
      break;
    }
    case Key::StrList: {
      const toml::array* arr = node.as_array();
      if (!arr) throw ConfigError(origin + name + ": expected an array of strings");
      std::vector<std::string> items;
      for (auto&& item : *arr) {
        auto v = item.value<std::string>();
        if (!item.is_string() || !v)
          throw ConfigError(origin + name + ": expected an array of strings");
        check_choice(*k, *v, origin);
        items.push_back(*v);
      }
      k->set_list(c, std::move(items));
      break;
    }
  }
}

void apply_table(Config& c, const toml::table& table, const std::string& prefix,
                 const std::string& file) {
  for (auto&& [key, node] : table) {
    std::string name =
        prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
    if (auto* sub = node.as_table()) {
      if (!prefix.empty()) {
        throw ConfigError(where(file, static_cast<int>(node.source().begin.line)) +
                          "unknown table \"" + name + "\"");
      }
      bool known = false;
      for (auto& k : key_table())
        if (k.name.rfind(name + ".", 0) == 0) known = true;
      if (!known)
        throw ConfigError(where(file, static_cast<int>(node.source().begin.line)) +
                          "unknown table \"" + name + "\"");
      apply_table(c, *sub, name, file);
    } else {
      apply_node(c, name, node, file);
    }
  }
}

// CHAT_GATEWAY_LISTEN -> gateway.listen; CHAT_DATA_DIR -> data_dir. Variables that name
// no key (CHAT_CONFIG, CHAT_URL, CHAT_TOKEN, ...) belong to other programs and are skipped.
std::string env_name(const std::string& key) {
  std::string out = "CHAT_";
  for (char ch : key) out.push_back(ch == '.' ? '_' : static_cast<char>(std::toupper(ch)));
  return out;
}

// Checks that involve more than one key, once every source has been applied.
void validate(const Config& c) {
  c.guild_shards();
  c.store_shards();
  c.presence_shards();
  for (size_t i = 0; i < c.chatd.programs.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (c.chatd.programs[i] == c.chatd.programs[j])
        throw ConfigError("chatd.programs: \"" + c.chatd.programs[i] + "\" is listed twice");
}

}  // namespace

ShardRange parse_shard_range(const std::string& spec, int shards, const std::string& key) {
  if (shards < 1) shards = 1;
  if (spec.empty()) return ShardRange{0, shards - 1};
  auto number = [&](const std::string& text) {
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0])) || *end != '\0' ||
        errno != 0)
      throw ConfigError(key + ": \"" + spec + "\" is not FIRST-LAST (shard numbers)");
    return v;
  };
  auto dash = spec.find('-');
  long first = number(spec.substr(0, dash));
  long last = dash == std::string::npos ? first : number(spec.substr(dash + 1));
  if (first > last)
    throw ConfigError(key + ": \"" + spec + "\": the first shard is after the last");
  if (last >= shards)
    throw ConfigError(key + ": \"" + spec + "\" is outside shards 0-" + std::to_string(shards - 1) +
                      " (shards = " + std::to_string(shards) + ")");
  return ShardRange{static_cast<int>(first), static_cast<int>(last)};
}

std::vector<std::string> split_comma_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(start, comma - start);
    size_t b = item.find_first_not_of(" \t");
    size_t e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
    start = comma + 1;
  }
  return out;
}

std::string Config::data_path() const {
  std::error_code ec;
  auto p = std::filesystem::absolute(data_dir, ec);
  return ec ? data_dir : p.lexically_normal().string();
}

std::string find_config_file(const std::string& explicit_path) {
  if (!explicit_path.empty()) return explicit_path;
  if (const char* env = std::getenv("CHAT_CONFIG"); env && *env) return env;
  if (access("chat.toml", R_OK) == 0) return "chat.toml";
  if (access("/etc/chat/chat.toml", R_OK) == 0) return "/etc/chat/chat.toml";
  return "";
}

Config load_config(const std::string& file, const std::vector<std::string>& overrides,
                   char** envp) {
  Config c;
  if (!file.empty()) {
    c.path = file;
    toml::table table;
    try {
      table = toml::parse_file(file);
    } catch (const toml::parse_error& e) {
      throw ConfigError(file + ":" + std::to_string(e.source().begin.line) + ": " +
                        std::string(e.description()));
    }
    apply_table(c, table, "", file);
  }
  char** env = envp ? envp : environ;
  for (auto& k : key_table()) {
    std::string name = env_name(k.name);
    for (char** e = env; e && *e; ++e) {
      std::string_view kv(*e);
      if (kv.size() > name.size() && kv.compare(0, name.size(), name) == 0 &&
          kv[name.size()] == '=') {
        apply_text(c, k, std::string(kv.substr(name.size() + 1)), "environment " + name + ": ");
      }
    }
  }
  for (auto& o : overrides) {
    auto eq = o.find('=');
    if (eq == std::string::npos) throw ConfigError("--set " + o + ": expected table.key=value");
    std::string name = o.substr(0, eq);
    const Key* k = find_key(name);
    if (!k) throw ConfigError("--set: unknown key \"" + name + "\"");
    apply_text(c, *k, o.substr(eq + 1), "--set ");
  }
  validate(c);
  return c;
}

HostPort parse_host_port(const std::string& value, const std::string& key) {
  HostPort hp;
  std::string host;
  std::string port;
  if (!value.empty() && value[0] == '[') {
    auto close = value.find(']');
    if (close == std::string::npos || close + 1 >= value.size() || value[close + 1] != ':')
      throw ConfigError(key + ": \"" + value + "\" is not [host]:port");
    host = value.substr(1, close - 1);
    port = value.substr(close + 2);
  } else {
    auto colon = value.rfind(':');
    if (colon == std::string::npos) throw ConfigError(key + ": \"" + value + "\" is not host:port");
    host = value.substr(0, colon);
    port = value.substr(colon + 1);
  }
  char* end = nullptr;
  long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p < 0 || p > 65535)
    throw ConfigError(key + ": \"" + value + "\" has no valid port");
  hp.host = host.empty() ? "0.0.0.0" : host;
  hp.port = static_cast<uint16_t>(p);
  return hp;
}

}  // namespace chat
