#!/bin/sh
# cron-disk-report.sh: post this host's disk usage (df -h) to a chat channel.
#
# The report is one message: a summary line naming the file systems at or above
# DISK_REPORT_THRESHOLD percent used, then the df -h table in a code block.
# The script exits with chatctl's exit status (see chatctl(1), EXIT STATUS), so cron
# mails a failure, and 75 means "try again later".
#
# Crontab line (every day at 07:00; cron mails anything printed on failure):
#
#   0 7 * * * CHAT_URL=http://chat.example.org:8790 CHAT_TOKEN=xxxx /usr/local/bin/cron-disk-report.sh
#
# On the host that runs the daemon set, CHAT_URL and CHAT_TOKEN may be left out when
# the cron user can read chat.toml and <data_dir>/admin.token.
#
# Environment:
#   DISK_REPORT_CHANNEL    channel to post to, id or GUILD/#name (default ops/#alerts)
#   DISK_REPORT_THRESHOLD  percent used that counts as full (default 90)
#   CHATCTL                the chatctl program (default: chatctl from PATH)
#   CHAT_CONFIG, CHAT_URL, CHAT_TOKEN   as for chatctl(1)
set -eu

channel=${DISK_REPORT_CHANNEL:-ops/#alerts}
threshold=${DISK_REPORT_THRESHOLD:-90}
chatctl=${CHATCTL:-chatctl}

# -P keeps each file system on one line; leave out pseudo file systems where df has -x
# (GNU). df exits non-zero when one file system cannot be read: report the others.
if df -x tmpfs / >/dev/null 2>&1; then
    table=$(df -hP -x tmpfs -x devtmpfs -x squashfs 2>/dev/null || true)
else
    table=$(df -hP 2>/dev/null || true)
fi
[ -n "$table" ] || table="(df -h printed nothing)"

# Mount points at or above the threshold (Use% is column 5, Mounted on column 6).
full=$(printf '%s\n' "$table" | awk -v t="$threshold" '
    NR > 1 && $5 ~ /%$/ && $5 + 0 >= t { printf "%s%s (%s)", sep, $6, $5; sep = ", " }')

host=$(hostname 2>/dev/null || uname -n)
if [ -n "$full" ]; then
    summary="disk report for $host: at or above $threshold%: $full"
else
    summary="disk report for $host: all file systems below $threshold%"
fi

# A message holds at most 2000 characters: keep the table's first lines if it is long.
table=$(printf '%s\n' "$table" | awk '{ n += length($0) + 1; if (n > 1800) exit; print }')
# shellcheck disable=SC2016 # the backquotes are Markdown, not command substitution
message=$(printf '%s\n```\n%s\n```' "$summary" "$table")

status=0
"$chatctl" send "$channel" "$message" >/dev/null || status=$?
exit "$status"
