// Package tessera holds an interoperability test, in a module of its own so
// that the dependencies it needs (transparency-dev/tessera's client and
// merkle packages) are not scrutin's: a reader built on tessera's client
// reads an election's published log (C2SP tlog-tiles) and checks it and a
// voter's receipt (docs/spec.md §17).
package tessera
