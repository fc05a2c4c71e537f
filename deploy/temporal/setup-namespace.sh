#!/bin/sh
# One-shot (temporal-setup service, temporalio/admin-tools): waits for the Temporal server, creates
# the namespace the app uses and registers the loan search attributes. Safe to run again.
# The attributes and their types are those of src/workflows/search-attributes.ts (a test checks).
set -eu
: "${TEMPORAL_ADDRESS:?}" "${TEMPORAL_NAMESPACE:?}" "${TEMPORAL_NAMESPACE_RETENTION:?}"
SEARCH_ATTRIBUTES="LoanStatus:Keyword LoanStage:Keyword OutstandingAmount:Int LoanCurrency:Keyword DueDate:Datetime NextReminderAt:Datetime PolicyId:Keyword PauseReason:Keyword"

t() {
  temporal --address "$TEMPORAL_ADDRESS" "$@"
}

tries=0
until t operator cluster health >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "Temporal at $TEMPORAL_ADDRESS did not become healthy" >&2
    exit 1
  fi
  sleep 2
done

if t operator namespace describe --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; then
  echo "namespace $TEMPORAL_NAMESPACE exists"
else
  t operator namespace create --namespace "$TEMPORAL_NAMESPACE" --retention "$TEMPORAL_NAMESPACE_RETENTION"
fi

# A new namespace takes a few seconds to reach every part of the server.
tries=0
until existing=$(t operator search-attribute list --namespace "$TEMPORAL_NAMESPACE" 2>/dev/null); do
  tries=$((tries + 1))
  if [ "$tries" -ge 30 ]; then
    echo "namespace $TEMPORAL_NAMESPACE did not become usable" >&2
    exit 1
  fi
  sleep 2
done
for attribute in $SEARCH_ATTRIBUTES; do
  name=${attribute%%:*}
  type=${attribute#*:}
  if printf '%s\n' "$existing" | grep -qw "$name"; then
    echo "search attribute $name exists"
  else
    t operator search-attribute create --namespace "$TEMPORAL_NAMESPACE" --name "$name" --type "$type"
  fi
done
echo "Temporal namespace $TEMPORAL_NAMESPACE is ready"
