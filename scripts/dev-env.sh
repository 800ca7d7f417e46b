# The environment of the `make dev` stack, sourced by dev.sh and purge.sh.
source scripts/local-env.sh
moto_port=${MOTO_PORT:-4566}
port=${PORT:-3000}
export TABLE_NAME=${TABLE_NAME:-profiles-local}
export AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port
export DEV_JWT_SECRET=${DEV_JWT_SECRET:-local-dev-secret}
# Email: moto's SES keeps what is sent; links point at the local server.
export PUBLIC_BASE_URL=${PUBLIC_BASE_URL:-http://127.0.0.1:$port}
export EMAIL_FROM=${EMAIL_FROM:-no-reply@example.com}
# moto's queue URLs name its default account.
export MAIL_QUEUE_URL=${MAIL_QUEUE_URL:-http://127.0.0.1:$moto_port/123456789012/password-resets}
export TENANT_SETTINGS=${TENANT_SETTINGS:-'{"*": {"default_result_url": "http://127.0.0.1:'$port'/verified", "result_url_hosts": ["127.0.0.1", "localhost"]}}'}
# Erasure: the receipt key's secret, which `local-api setup` creates on moto with a random
# key, and self-service deletions due at once, so a purge can be watched without waiting out a
# grace period.
export ERASURE_RECEIPT_SECRET=${ERASURE_RECEIPT_SECRET:-profiles-local-erasure-receipt-key}
export DELETION_GRACE_DAYS=${DELETION_GRACE_DAYS:-0}
