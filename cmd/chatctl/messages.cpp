// `chatctl edit CHANNEL MESSAGE TEXT` (prints the edited message) and
// `chatctl delete CHANNEL MESSAGE` (prints nothing).
#include <CLI/CLI.hpp>

#include "client.hpp"
#include "output.hpp"
#include "resolve.hpp"

namespace chat::ctl {

namespace {

Status check_message_id(const std::string& what, const std::string& id) {
  if (is_snowflake(id)) return {};
  return Status::error(exit_code::usage, what, "'" + id + "' is not a message id");
}

class EditCommand : public Command {
 public:
  CLI::App* define(CLI::App& root) override {
    auto* sub = root.add_subcommand("edit", "replace the content of a message");
    sub->add_option("CHANNEL", channel_, "channel id or GUILD/#name")->required();
    sub->add_option("MESSAGE", message_, "message id")->required();
    sub->add_option("TEXT", words_, "the new content (words joined by spaces)")->required();
    return sub;
  }

  Status run(Context& ctx) override {
    const std::string what = "edit " + message_;
    if (Status s = check_message_id(what, message_); !s.ok()) return s;
    Output& out = ctx.output();
    ChannelRef channel;
    if (Status s = resolve_channel(ctx, channel_, !out.ndjson(), channel); !s.ok()) return s;
    if (Status s = ctx.connect_api(); !s.ok()) return s;
    json body = {{"content", join_words(words_)}};
    json message;
    if (Status s = ctx.api().call("PATCH", "/channels/" + channel.id + "/messages/" + message_,
                                  &body, &message, what);
        !s.ok())
      return s;
    out.message(message, channel.name);
    return {};
  }

 private:
  std::string channel_, message_;
  std::vector<std::string> words_;
};

class DeleteCommand : public Command {
 public:
  CLI::App* define(CLI::App& root) override {
    auto* sub = root.add_subcommand("delete", "delete a message");
    sub->add_option("CHANNEL", channel_, "channel id or GUILD/#name")->required();
    sub->add_option("MESSAGE", message_, "message id")->required();
    return sub;
  }

  Status run(Context& ctx) override {
    const std::string what = "delete " + message_;
    if (Status s = check_message_id(what, message_); !s.ok()) return s;
    ChannelRef channel;
    if (Status s = resolve_channel(ctx, channel_, false, channel); !s.ok()) return s;
    if (Status s = ctx.connect_api(); !s.ok()) return s;
    return ctx.api().call("DELETE", "/channels/" + channel.id + "/messages/" + message_, nullptr,
                          nullptr, what);
  }

 private:
  std::string channel_, message_;
};

}  // namespace

void add_message_commands(CommandList& out) {
  out.push_back(std::make_unique<EditCommand>());
  out.push_back(std::make_unique<DeleteCommand>());
}

}  // namespace chat::ctl
