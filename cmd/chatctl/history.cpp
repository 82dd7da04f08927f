// `chatctl history CHANNEL [--before ID|--after ID|--around ID] [--limit N]`: one page of
// a channel's messages as the server returns it, newest first, as NDJSON or lines. To
// page back through a channel, pass the last (oldest) id printed as the next --before.
#include <CLI/CLI.hpp>

#include "client.hpp"
#include "output.hpp"
#include "resolve.hpp"

namespace chat::ctl {

namespace {

class HistoryCommand : public Command {
 public:
  CLI::App* define(CLI::App& root) override {
    auto* sub = root.add_subcommand("history", "one page of a channel's messages, newest first");
    sub->add_option("CHANNEL", channel_, "channel id or GUILD/#name")->required();
    auto* before = sub->add_option("--before", before_, "messages before this id");
    auto* after = sub->add_option("--after", after_, "messages after this id");
    auto* around = sub->add_option("--around", around_, "messages around this id");
    before->excludes(after)->excludes(around);
    after->excludes(around);
    sub->add_option("--limit", limit_, "page size, 1 to 100 (default 50)")
        ->check(CLI::Range(1, 100));
    return sub;
  }

  Status run(Context& ctx) override {
    std::string query = "?limit=" + std::to_string(limit_);
    for (auto [name, value] : {std::pair{"before", &before_}, std::pair{"after", &after_},
                               std::pair{"around", &around_}}) {
      if (value->empty()) continue;
      if (!is_snowflake(*value))
        return Status::error(exit_code::usage, std::string("history --") + name + " " + *value,
                             "not a message id");
      query += std::string("&") + name + "=" + *value;
    }
    Output& out = ctx.output();
    ChannelRef channel;
    if (Status s = resolve_channel(ctx, channel_, !out.ndjson(), channel); !s.ok()) return s;
    if (Status s = ctx.connect_api(); !s.ok()) return s;
    json page;
    if (Status s = ctx.api().call("GET", "/channels/" + channel.id + "/messages" + query, nullptr,
                                  &page, "history " + channel_);
        !s.ok())
      return s;
    if (!page.is_array())
      return Status::error(exit_code::software, "history " + channel_, "the answer is not a list");
    for (auto& m : page)
      if (!out.message(m, channel.name)) break;
    return {};
  }

 private:
  std::string channel_;
  std::string before_, after_, around_;
  int limit_ = 50;
};

}  // namespace

void add_history_commands(CommandList& out) {
  out.push_back(std::make_unique<HistoryCommand>());
}

}  // namespace chat::ctl
