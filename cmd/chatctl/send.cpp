// `chatctl send CHANNEL [TEXT...]`: posts TEXT (the words joined by spaces) as one
// message, or, without TEXT, each non-empty line of standard input as one message, one
// at a time and in order over one keep-alive connection. Transient failures (the set
// restarting, 503, 429 with retry_after) are retried for up to 30 s per message, so an id
// is printed only once the server has stored the message; the first message that still
// fails stops the command with that failure's exit code. Every message carries a nonce
// with enforce_nonce, so a retry after a lost answer is not stored twice by a server that
// honours it.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <iostream>

#include "chat/proto/snowflake.hpp"
#include "client.hpp"
#include "output.hpp"
#include "resolve.hpp"

namespace chat::ctl {

namespace {

constexpr auto kRetryBudget = std::chrono::seconds(30);
constexpr size_t kMaxContent = 2000;  // characters (code points), as the server counts

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

// Unique enough within Discord's 25-character nonce: pid, start time, counter.
std::string next_nonce() {
  static const uint64_t start = now_unix_ms() % 1000000000ULL;
  static std::atomic<uint64_t> counter{0};
  return std::to_string(getpid() % 100000) + "-" + std::to_string(start) + "-" +
         std::to_string(counter++);
}

class SendCommand : public Command {
 public:
  CLI::App* define(CLI::App& root) override {
    auto* sub = root.add_subcommand("send", "post TEXT, or each line of stdin, as messages");
    sub->add_option("CHANNEL", channel_, "channel id or GUILD/#name")->required();
    sub->add_option("TEXT", words_, "the message (words joined by spaces)");
    return sub;
  }

  Status run(Context& ctx) override {
    ChannelRef channel;
    if (Status s = resolve_channel(ctx, channel_, false, channel); !s.ok()) return s;
    if (Status s = ctx.connect_api(); !s.ok()) return s;
    Output& out = ctx.output();
    if (!words_.empty()) return post(ctx, channel, join_words(words_), out);
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      if (Status s = post(ctx, channel, line, out); !s.ok()) return s;
      if (!out.ok()) return {};  // stdout closed: nobody reads the ids any more
    }
    return {};
  }

 private:
  Status post(Context& ctx, const ChannelRef& channel, const std::string& text, Output& out) {
    const std::string what = "send to " + channel_;
    if (utf8_length(text) > kMaxContent)
      return Status::error(
          exit_code::data, what,
          "message longer than 2000 characters (" + std::to_string(utf8_length(text)) + ")");
    json body = {{"content", text}, {"nonce", next_nonce()}, {"enforce_nonce", true}};
    json message;
    if (Status s = ctx.api().call_retrying("POST", "/channels/" + channel.id + "/messages", &body,
                                           &message, what, kRetryBudget);
        !s.ok())
      return s;
    if (out.ndjson()) {
      out.object(message);
    } else {
      std::string id = message.is_object() && message.contains("id") && message["id"].is_string()
                           ? message["id"].get<std::string>()
                           : std::string("?");
      out.line(id);
    }
    // Flushed per message when piped, so a consumer sees each id as soon as it is sent.
    out.flush();
    return {};
  }

  std::string channel_;
  std::vector<std::string> words_;
};

}  // namespace

void add_send_commands(CommandList& out) {
  out.push_back(std::make_unique<SendCommand>());
}

}  // namespace chat::ctl
