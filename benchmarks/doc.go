// Package benchmarks compares guardian's request path with the JWT
// middlewares a Go team would otherwise pick, on the same keys and the same
// tokens. It holds only tests and benchmarks; see README.md for what is
// measured and how to run it.
package benchmarks
