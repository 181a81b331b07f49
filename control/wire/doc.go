// Package wire is what Meterhouse and the head-end (the DAS) exchange over Kafka for
// remote control: signed commands on topic `commands` and acknowledgements and relay
// events on topic `command-acks`, both keyed by meter id and encoded as JSON; and the
// Ed25519 keys that sign the commands.
//
// A command's signature covers, in this order and separated by newlines after the
// prefix "meterhouse-command/v1": command id, meter id, action, nonce, not-before and
// not-after (Unix seconds). The key id travels beside the signature so that a DAS
// holding several public keys (during a rotation) knows which one to check. Sequence,
// reason and the other fields are not signed: the DAS acts on signed fields only.
//
// The private key lives only in its key file (ReadKeyFile); a PrivateKey prints and
// marshals as "REDACTED". Public keys and their ids are what the DAS is given.
package wire
