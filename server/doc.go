// Package server wires the credit bank service together: the data folder
// and its keys, the ledger opened on it, the HTTP server and its timeouts,
// and the block cache sized from the machine's memory.
package server
