// The storage commands: `store stats [--channel CHANNEL]`, `store compact [--channel
// CHANNEL]` and `store backup NAME` (gatewayd's /admin/store/* routes, answered by stored,
// see admin_ops.hpp for the figures), and the retention settings `channel retention
// CHANNEL [DAYS|off]` and `guild retention GUILD [DAYS|off]` (PATCH of the channel or guild
// with retention_days; without DAYS, the setting in force is printed).
//
// A person at a terminal gets readable lines; --json or a pipe gets stored's JSON object
// (or the retention object) on one line. Compaction and backups of a big store take
// minutes: these requests wait up to 11 minutes (gatewayd gives stored 10).
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "client.hpp"
#include "output.hpp"
#include "resolve.hpp"

namespace chat::ctl {

namespace {

constexpr std::chrono::minutes kStoreTimeout{11};

uint64_t num(const json& o, const char* key) {
  if (!o.is_object() || !o.contains(key)) return 0;
  const json& v = o[key];
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) return static_cast<uint64_t>(std::max<int64_t>(0, v.get<int64_t>()));
  if (v.is_number_float()) return static_cast<uint64_t>(std::max(0.0, v.get<double>()));
  return 0;
}

double real(const json& o, const char* key) {
  return o.is_object() && o.contains(key) && o[key].is_number() ? o[key].get<double>() : 0.0;
}

const json& sub(const json& o, const char* key) {
  static const json empty = json::object();
  return o.is_object() && o.contains(key) && o[key].is_object() ? o[key] : empty;
}

// 1536 -> "1.5 KiB"
std::string bytes_text(uint64_t n) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024.0 && u < 4) v /= 1024.0, ++u;
  char buf[32];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  else
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

std::string fixed(double v, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// Unix ms -> "2026-11-27" (UTC)
std::string day_text(uint64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

std::string days_text(int64_t days) {
  return days == 0 ? "kept forever" : std::to_string(days) + (days == 1 ? " day" : " days");
}

// `--channel CHANNEL` as a channel id ("" when not given).
Status channel_id_of(Context& ctx, const std::string& spec, std::string& id) {
  if (spec.empty()) return {};
  ChannelRef ref;
  if (Status s = resolve_channel(ctx, spec, false, ref); !s.ok()) return s;
  id = ref.id;
  return {};
}

void print_store_stats(Output& out, const json& s) {
  std::vector<std::vector<std::string>> rows;
  const json& disk = sub(s, "disk");
  rows.push_back({"messages", std::to_string(num(s, "messages")) + " (estimate)"});
  rows.push_back({"channels", std::to_string(num(s, "channels"))});
  rows.push_back({"buckets", std::to_string(num(s, "buckets"))});
  rows.push_back({"disk", bytes_text(num(disk, "live_sst_bytes")) + " live SST, " +
                              bytes_text(num(disk, "total_sst_bytes")) + " total SST, " +
                              bytes_text(num(disk, "memtable_bytes")) + " memtables, " +
                              bytes_text(num(disk, "wal_bytes")) + " WAL, " +
                              bytes_text(num(disk, "dir_bytes")) + " in the directory"});
  bool any_level = false;
  if (s.contains("levels") && s["levels"].is_array())
    for (const json& l : s["levels"]) {
      if (num(l, "files") == 0) continue;
      any_level = true;
      rows.push_back(
          {"level " + std::to_string(num(l, "level")),
           std::to_string(num(l, "files")) + " SST files, " + bytes_text(num(l, "bytes"))});
    }
  if (!any_level) rows.push_back({"levels", "no SST files yet (all in memtables)"});
  rows.push_back({"pending compaction", bytes_text(num(s, "pending_compaction_bytes"))});
  const json& cache = sub(s, "block_cache");
  rows.push_back({"block cache", fixed(real(cache, "hit_rate") * 100.0, 1) + "% hit rate (" +
                                     std::to_string(num(cache, "hits")) + " hits, " +
                                     std::to_string(num(cache, "misses")) + " misses)"});
  const json& stalls = sub(s, "write_stalls");
  bool stopped =
      stalls.contains("stopped") && stalls["stopped"].is_boolean() && stalls["stopped"].get<bool>();
  rows.push_back(
      {"write stalls", std::to_string(num(stalls, "slowdowns")) + " slowdowns, " +
                           std::to_string(num(stalls, "stops")) + " stops, stalled " +
                           fixed(static_cast<double>(num(stalls, "stall_micros")) / 1e6, 3) + " s" +
                           (stopped ? ", writes stopped now" : "")});
  const json& ret = sub(s, "retention");
  rows.push_back({"retention", "removed " + std::to_string(num(ret, "removed_messages")) +
                                   " messages (" + std::to_string(num(ret, "removed_buckets")) +
                                   " whole buckets) in " + std::to_string(num(ret, "runs")) +
                                   " sweeps; " + std::to_string(num(ret, "policies")) +
                                   " channels with a limit"});
  out.table(rows);
}

void print_channel_stats(Output& out, const json& s, const std::string& spec) {
  std::vector<std::vector<std::string>> rows;
  const json& buckets = s.contains("buckets") && s["buckets"].is_array() ? s["buckets"] : json();
  rows.push_back({"channel", spec == s.value("channel_id", std::string())
                                 ? spec
                                 : spec + " (" + s.value("channel_id", std::string()) + ")"});
  rows.push_back({"messages", std::to_string(num(s, "messages"))});
  rows.push_back({"buckets", std::to_string(buckets.is_array() ? buckets.size() : 0)});
  rows.push_back({"bytes on disk", "about " + bytes_text(num(s, "approximate_bytes"))});
  rows.push_back({"retention", days_text(static_cast<int64_t>(num(s, "retention_days")))});
  if (buckets.is_array())
    for (const json& b : buckets)
      rows.push_back({"bucket " + std::to_string(num(b, "bucket")),
                      "from " + day_text(num(b, "start_ms")) + ": " +
                          std::to_string(num(b, "messages")) + " messages"});
  out.table(rows);
}

class StoreStats : public Command {
 public:
  CLI::App* define(CLI::App& root) override {
    auto* cmd = subgroup(root, "store", "storage figures, compaction and backups")
                    .add_subcommand("stats", "sizes, message counts, buckets, RocksDB figures");
    cmd->add_option("--channel", channel_, "one channel (id or GUILD/#name): exact figures");
    return cmd;
  }
  Status run(Context& ctx) override {
    std::string id;
    if (Status s = channel_id_of(ctx, channel_, id); !s.ok()) return s;
    if (Status s = ctx.connect_api(); !s.ok()) return s;
    ctx.api().set_request_timeout(kStoreTimeout);
    json answer;
    std::string path = "/admin/store/stats" + (id.empty() ? "" : "?channel_id=" + id);
    if (Status s = ctx.api().call("GET", path, nullptr, &answer, "store stats"); !s.ok()) return s;
    if (!answer.is_object())
      return Status::error(exit_code::software, "store stats", "the answer is not an object");
    Output& out = ctx.output(true);
    if (out.ndjson())
      out.object(answer);
    else if (id.empty())
      print_store_stats(out, answer);
    else
      print_channel_stats(out, answer, channel_);
    return {};
  }

 private:
  std::string channel_;
};

class StoreCompact : public Command {
 public:
  CLI::App* define(CLI::App& root) override {
    auto* cmd = subgroup(root, "store", "storage figures, compaction and backups")
                    .add_subcommand("compact", "compact the store or one channel's range");
    cmd->add_option("--channel", channel_, "only this channel (id or GUILD/#name)");
    return cmd;
  }
  Status run(Context& ctx) override {
    std::string id;
    if (Status s = channel_id_of(ctx, channel_, id); !s.ok()) return s;
    if (Status s = ctx.connect_api(); !s.ok()) return s;
    ctx.api().set_request_timeout(kStoreTimeout);
    json body = json::object(), answer;
    if (!id.empty()) body["channel_id"] = id;
    if (Status s = ctx.api().call("POST", "/admin/store/compact", &body, &answer, "store compact");
        !s.ok())
      return s;
    Output& out = ctx.output(true);
    if (out.ndjson()) {
      out.object(answer);
      return {};
    }
    uint64_t before = num(answer, "before_bytes"), after = num(answer, "after_bytes");
    out.line("compacted " + (id.empty() ? std::string("the whole store") : channel_) + ": " +
             std::to_string(before) + " -> " + std::to_string(after) + " bytes (" +
             bytes_text(before) + " -> " + bytes_text(after) + ") in " +
             fixed(real(answer, "seconds"), 2) + " s");
    return {};
  }

 private:
  std::string channel_;
};

class StoreBackup : public Command {
 public:
  CLI::App* define(CLI::App& root) override {
    auto* cmd = subgroup(root, "store", "storage figures, compaction and backups")
                    .add_subcommand("backup", "a consistent checkpoint under <data_dir>/backups/");
    cmd->add_option("NAME", name_, "the backup's name: 1-64 of [A-Za-z0-9._-]")->required();
    return cmd;
  }
  Status run(Context& ctx) override {
    if (Status s = ctx.connect_api(); !s.ok()) return s;
    ctx.api().set_request_timeout(kStoreTimeout);
    json body = {{"name", name_}}, answer;
    if (Status s =
            ctx.api().call("POST", "/admin/store/backup", &body, &answer, "store backup " + name_);
        !s.ok())
      return s;
    Output& out = ctx.output(true);
    if (out.ndjson())
      out.object(answer);
    else
      out.line(answer.value("path", std::string()));
    return {};
  }

 private:
  std::string name_;
};

// DAYS|off as the JSON value of retention_days; false for anything else.
bool retention_value(const std::string& text, json& out) {
  if (text == "off") {
    out = nullptr;
    return true;
  }
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  long days = std::stol(text);
  if (days > 36500) return false;
  out = days;
  return true;
}

json days_or_null(const json& o) {
  return o.is_object() && o.contains("retention_days") && o["retention_days"].is_number_integer()
             ? o["retention_days"]
             : json(nullptr);
}

class ChannelRetention : public Command {
 public:
  CLI::App* define(CLI::App& root) override {
    auto* cmd = subgroup(root, "channel", "create and list channels")
                    .add_subcommand("retention", "show or set how long a channel keeps messages");
    cmd->add_option("CHANNEL", channel_, "channel id or GUILD/#name")->required();
    cmd->add_option("DAYS", days_,
                    "1-36500 days, 0 to keep forever whatever the guild says, or off to "
                    "drop the channel's own setting");
    return cmd;
  }
  Status run(Context& ctx) override {
    json value;
    if (!days_.empty() && !retention_value(days_, value))
      return Status::error(exit_code::usage, "channel retention " + channel_,
                           "DAYS must be 0..36500 or off, not \"" + days_ + "\"");
    ChannelRef ref;
    if (Status s = resolve_channel(ctx, channel_, false, ref); !s.ok()) return s;
    if (Status s = ctx.connect_api(); !s.ok()) return s;
    const std::string what = "channel retention " + channel_;
    json channel;
    if (days_.empty()) {
      if (Status s = ctx.api().call("GET", "/channels/" + ref.id, nullptr, &channel, what); !s.ok())
        return s;
    } else {
      json body = {{"retention_days", value}};
      if (Status s = ctx.api().call("PATCH", "/channels/" + ref.id, &body, &channel, what); !s.ok())
        return s;
    }
    json own = days_or_null(channel), from_guild = nullptr;
    std::string guild_id = channel.is_object() ? channel.value("guild_id", std::string()) : "";
    if (own.is_null() && !guild_id.empty()) {
      json guild;
      if (Status s = ctx.api().call("GET", "/guilds/" + guild_id, nullptr, &guild, what); !s.ok())
        return s;
      from_guild = days_or_null(guild);
    }
    int64_t effective = !own.is_null()          ? own.get<int64_t>()
                        : !from_guild.is_null() ? from_guild.get<int64_t>()
                                                : 0;
    Output& out = ctx.output(true);
    if (out.ndjson()) {
      out.object({{"channel_id", ref.id},
                  {"guild_id", guild_id},
                  {"retention_days", own},
                  {"guild_retention_days", from_guild},
                  {"effective_days", effective}});
      return {};
    }
    std::string source = !own.is_null()          ? "the channel's own setting"
                         : !from_guild.is_null() ? "from its guild"
                                                 : "no setting";
    out.line(channel_ + ": " + days_text(effective) + " (" + source + ")");
    return {};
  }

 private:
  std::string channel_, days_;
};

class GuildRetention : public Command {
 public:
  CLI::App* define(CLI::App& root) override {
    auto* cmd =
        subgroup(root, "guild", "create, list and delete guilds")
            .add_subcommand("retention", "show or set how long a guild's channels keep messages");
    cmd->add_option("GUILD", guild_, "guild id or name")->required();
    cmd->add_option("DAYS", days_, "1-36500 days, or 0 or off to clear the setting");
    return cmd;
  }
  Status run(Context& ctx) override {
    json value;
    if (!days_.empty() && !retention_value(days_, value))
      return Status::error(exit_code::usage, "guild retention " + guild_,
                           "DAYS must be 0..36500 or off, not \"" + days_ + "\"");
    GuildRef ref;
    if (Status s = resolve_guild(ctx, guild_, ref); !s.ok()) return s;
    if (Status s = ctx.connect_api(); !s.ok()) return s;
    const std::string what = "guild retention " + guild_;
    json guild;
    if (days_.empty()) {
      if (Status s = ctx.api().call("GET", "/guilds/" + ref.id, nullptr, &guild, what); !s.ok())
        return s;
    } else {
      json body = {{"retention_days", value}};
      if (Status s = ctx.api().call("PATCH", "/guilds/" + ref.id, &body, &guild, what); !s.ok())
        return s;
    }
    json days = days_or_null(guild);
    Output& out = ctx.output(true);
    if (out.ndjson()) {
      out.object({{"guild_id", ref.id}, {"retention_days", days}});
      return {};
    }
    out.line(guild_ + ": " +
             (days.is_null() ? std::string("no setting (messages are kept forever unless a "
                                           "channel has its own)")
                             : days_text(days.get<int64_t>()) + " in every channel without "
                                                                "its own setting"));
    return {};
  }

 private:
  std::string guild_, days_;
};

}  // namespace

void add_store_commands(CommandList& out) {
  out.push_back(std::make_unique<StoreStats>());
  out.push_back(std::make_unique<StoreCompact>());
  out.push_back(std::make_unique<StoreBackup>());
  out.push_back(std::make_unique<ChannelRetention>());
  out.push_back(std::make_unique<GuildRetention>());
}

}  // namespace chat::ctl
