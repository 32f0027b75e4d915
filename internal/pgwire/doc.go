// Package pgwire is the PostgreSQL protocol plumbing of the pooler: it
// reads the untrusted startup packet, reads regular messages as raw
// bytes with a maximum body length, builds ErrorResponses with a SQLSTATE,
// and decodes only the few messages a pooler must inspect (ReadyForQuery,
// ParameterStatus, BackendKeyData, ErrorResponse, and the names in Parse,
// Bind, Describe and Close, which the pooler rewrites: extended.go), and
// reads the first words of SQL texts for prepared-statement and session
// commands (sqlscan.go). Message types come from pgx's pgproto3;
// everything else is forwarded as the bytes received.
package pgwire
