#!/bin/sh
# cmcluster alert script: one mail per event to ALERT_RECIPIENT, through the system's
# sendmail (postfix, exim, msmtp-mta... provide it). In the cluster file:
#   ALERT_SCRIPT /usr/local/share/cmcluster/alerts/mail.sh
#     ALERT_RECIPIENT ops@example.com
#     ALERT_EVENTS node_failed,package_moved,package_failed,lease_lost
# The event arrives in CM_ALERT_* variables (see the README's "Alerts").
if [ -z "$CM_ALERT_RECIPIENT" ]; then
    echo "mail.sh: no ALERT_RECIPIENT (a mail address) for alert $CM_ALERT_NAME" >&2
    exit 1
fi
sendmail=$(command -v sendmail 2>/dev/null || true)
[ -z "$sendmail" ] && [ -x /usr/sbin/sendmail ] && sendmail=/usr/sbin/sendmail
if [ -z "$sendmail" ]; then
    echo "mail.sh: no sendmail on $CM_ALERT_REPORTER: install a mail transfer agent" >&2
    exit 1
fi
subject="[$CM_ALERT_CLUSTER] $CM_ALERT_KIND"
[ -n "$CM_ALERT_PACKAGE" ] && subject="$subject $CM_ALERT_PACKAGE"
[ -n "$CM_ALERT_NODE" ] && subject="$subject on $CM_ALERT_NODE"
{
    printf 'To: %s\n' "$CM_ALERT_RECIPIENT"
    printf 'Subject: %s\n' "$subject"
    printf 'X-Cmcluster-Sequence: %s\n\n' "$CM_ALERT_SEQUENCE"
    printf '%s at %s, reported by %s (epoch %s)\n\n' \
        "$CM_ALERT_KIND" "$CM_ALERT_TIMESTAMP" "$CM_ALERT_REPORTER" "$CM_ALERT_EPOCH"
    env | grep '^CM_ALERT_' | sort
} | "$sendmail" -i -- "$CM_ALERT_RECIPIENT"
