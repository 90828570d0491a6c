// Package server wires the credit bank service together and runs it: its
// configuration (Config, checked before anything is opened), the data folder
// and its keys, the ledger opened on it, the HTTP API (package api) on a
// server with every timeout set, the admin socket through which a running
// service takes online backups, and the orderly shutdown that drains
// requests before it closes the store.
//
// `creditbank serve` is Run; tests and the load generator use Start for an
// in-process server on a loopback port. Backup is `creditbank backup`.
package server
