"""Loaded into each schemathesis run (its `hooks` setting): how to send what it cannot by itself."""

import schemathesis

# An e-mail (POST /v1/inbound/email, message/rfc822) travels as text.
schemathesis.serializer.alias("message/rfc822", "text/plain")
