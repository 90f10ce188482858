//go:build tools

// The command the bundle builds; go mod tidy keeps its dependencies in go.sum.
package tools

import _ "go.etcd.io/etcd/server/v3"
