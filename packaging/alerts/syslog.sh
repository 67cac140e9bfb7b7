#!/bin/sh
# cmcluster alert script: one line per event to syslog (daemon facility, tag
# cmcluster-alert), through logger(1). In the cluster file:
#   ALERT_SCRIPT /usr/local/share/cmcluster/alerts/syslog.sh
# ALERT_RECIPIENT, if set, is the syslog priority (default daemon.notice).
# The event arrives in CM_ALERT_* variables (see the README's "Alerts").
priority=${CM_ALERT_RECIPIENT:-daemon.notice}
case "$CM_ALERT_KIND" in
    node_failed|lease_lost|package_failed|service_failed|quorum_server_unreachable)
        [ -z "$CM_ALERT_RECIPIENT" ] && priority=daemon.warning ;;
esac
line="$CM_ALERT_KIND"
[ -n "$CM_ALERT_NODE" ] && line="$line node=$CM_ALERT_NODE"
[ -n "$CM_ALERT_PACKAGE" ] && line="$line package=$CM_ALERT_PACKAGE"
[ -n "$CM_ALERT_SERVICE" ] && line="$line service=$CM_ALERT_SERVICE"
[ -n "$CM_ALERT_OLD_STATE$CM_ALERT_NEW_STATE" ] && line="$line $CM_ALERT_OLD_STATE->$CM_ALERT_NEW_STATE"
line="$line epoch=$CM_ALERT_EPOCH cluster=$CM_ALERT_CLUSTER seq=$CM_ALERT_SEQUENCE"
[ -n "$CM_ALERT_REASON" ] && line="$line: $CM_ALERT_REASON"
if ! command -v logger >/dev/null 2>&1; then
    echo "syslog.sh: logger(1) not found (Debian: apt install bsdutils)" >&2
    exit 1
fi
exec logger -t cmcluster-alert -p "$priority" -- "$line"
