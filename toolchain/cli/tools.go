//go:build tools

// Package tools pins the Pulumi CLI: `go build github.com/pulumi/pulumi/pkg/v3/cmd/pulumi` inside this
// module builds the engine at the version go.mod requires. pkg/v3 carries `replace` directives, so
// `go install pkg@version` refuses it; a wrapper module like this one is the way to build it.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
